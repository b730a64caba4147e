import { Body, Controller, Get, Headers, Inject, Param, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply as Response, FastifyRequest as Request } from 'fastify';
import { API_CONFIG, type ApiConfig } from '../config';
import { QueueEstimates } from '../core/queue-estimates';
import { unfinished, type PredictionView } from './prediction-view';
import { REQUEST_TIMEOUT_HEADER, deadlineOf } from './deadline';
import { checkTexts, parseCreateBody, preferWait } from './prediction.dto';
import { PredictionService } from './prediction.service';
import {
  AsyncPredictionsDocs,
  CancelPredictionDocs,
  CreatePredictionDocs,
  GetPredictionDocs,
} from './predictions.docs';

/** Async predictions: create (202), poll, cancel; `Prefer: wait=N` waits inline. */
@AsyncPredictionsDocs()
@Controller('v1/predictions')
export class V1PredictionsController {
  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly predictions: PredictionService,
    private readonly estimates: QueueEstimates,
  ) {}

  @Post()
  @CreatePredictionDocs()
  async create(
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Headers('prefer') prefer: string | undefined,
    @Headers(REQUEST_TIMEOUT_HEADER) requestTimeout: string | undefined,
    @Req() request: Request,
    @Res({ passthrough: true }) response: Response,
  ): Promise<PredictionView> {
    const parsed = parseCreateBody(body);
    const texts = checkTexts(
      parsed.input.data,
      { maxTexts: this.config.MAX_TEXTS_PER_REQUEST },
      '#/input/data',
    );
    const wait = preferWait(prefer, this.config.MAX_WAIT_S);
    const deadline = deadlineOf(requestTimeout, parsed.deadline_ms);
    const view = await this.predictions.submit(
      {
        model: parsed.model,
        version: parsed.version,
        texts,
        probabilities: parsed.probabilities,
        webhook: parsed.webhook
          ? { url: parsed.webhook, events: parsed.webhook_events_filter }
          : undefined,
        requestId: String(request.id),
        deadline,
      },
      { idempotencyKey, fingerprint: parsed, waitMs: (wait ?? 0) * 1000 },
    );
    response.status(wait && !unfinished(view.status) ? 200 : 202).header('location', view.urls.get);
    if (wait) response.header('preference-applied', `wait=${wait}`);
    return view;
  }

  @Get(':id')
  @GetPredictionDocs()
  async get(@Param('id') id: string): Promise<PredictionView> {
    const view = await this.predictions.view(id);
    if (view.status !== 'queued') return view;
    const queue = await this.estimates.ofJob(view, id, view.input.data.length);
    return queue ? { ...view, queue } : view;
  }

  @Post(':id/cancel')
  @CancelPredictionDocs()
  cancel(
    @Param('id') id: string,
    @Res({ passthrough: true }) response: Response,
  ): Promise<PredictionView> {
    response.status(200);
    return this.predictions.cancel(id);
  }
}
