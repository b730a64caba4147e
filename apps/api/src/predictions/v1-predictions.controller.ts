import {
  Body,
  Controller,
  Get,
  Headers,
  Inject,
  Param,
  Post,
  Req,
  Res,
  UseGuards,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import { ApiBody, ApiHeader, ApiTags } from '@nestjs/swagger';
import { API_CONFIG, type ApiConfig } from '../config';
import { ApiKeyGuard } from '../infra/api-key.guard';
import { IdempotencyKeys } from './idempotency';
import {
  checkTexts,
  createPredictionSchema,
  parseCreateBody,
  preferWait,
  toJsonSchema,
} from './prediction.dto';
import { PredictionService, type PredictionView } from './prediction.service';

/** Async predictions: create (202), poll, cancel; `Prefer: wait=N` waits inline. */
@ApiTags('async predictions')
@Controller('v1/predictions')
@UseGuards(ApiKeyGuard)
export class V1PredictionsController {
  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly predictions: PredictionService,
    private readonly idempotency: IdempotencyKeys,
  ) {}

  @Post()
  @ApiBody({ schema: toJsonSchema(createPredictionSchema) })
  @ApiHeader({ name: 'Idempotency-Key', required: false })
  @ApiHeader({
    name: 'Prefer',
    required: false,
    description: 'wait=N: wait up to N seconds for the result',
  })
  async create(
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Headers('prefer') prefer: string | undefined,
    @Req() request: Request,
    @Res({ passthrough: true }) response: Response,
  ): Promise<PredictionView> {
    const parsed = parseCreateBody(body);
    const texts = checkTexts(
      parsed.input.data,
      { maxTexts: this.config.MAX_TEXTS_PER_REQUEST },
      '#/input/data',
    );
    const record = await this.predictions.resolve(parsed.model, parsed.version);
    let id = PredictionService.newId(record);
    let existing: string | undefined;
    if (idempotencyKey) {
      existing = await this.idempotency.claim(
        idempotencyKey,
        PredictionService.fingerprint(parsed),
        id,
      );
    }
    if (existing) {
      id = existing;
    } else {
      try {
        await this.predictions.submit(
          {
            model: record.name,
            version: record.version,
            texts,
            probabilities: parsed.probabilities,
            webhook: parsed.webhook
              ? { url: parsed.webhook, events: parsed.webhook_events_filter }
              : undefined,
            requestId: String(request.id),
          },
          id,
        );
      } catch (error) {
        if (idempotencyKey) await this.idempotency.release(idempotencyKey);
        throw error;
      }
    }
    const wait = preferWait(prefer, this.config.MAX_WAIT_S);
    if (wait) {
      const { job } = await this.predictions.find(id);
      if (job) await this.predictions.waitFor(job, wait * 1000);
    }
    const view = await this.predictions.view(id);
    const done = view.status !== 'queued' && view.status !== 'processing';
    response.status(done && wait ? 200 : 202).location(view.urls.get);
    if (wait) response.setHeader('preference-applied', `wait=${wait}`);
    return view;
  }

  @Get(':id')
  get(@Param('id') id: string): Promise<PredictionView> {
    return this.predictions.view(id);
  }

  @Post(':id/cancel')
  cancel(
    @Param('id') id: string,
    @Res({ passthrough: true }) response: Response,
  ): Promise<PredictionView> {
    response.status(200);
    return this.predictions.cancel(id);
  }
}
