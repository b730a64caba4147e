import { Body, Controller, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import type { Request } from 'express';
import { ApiBody, ApiTags } from '@nestjs/swagger';
import { API_CONFIG, type ApiConfig } from '../config';
import { syncBodySchema, textsFromBody, toJsonSchema } from './prediction.dto';
import { PredictionService } from './prediction.service';

/**
 * TorchServe-compatible inference: `POST /predictions/:model[/:version]` answers one result
 * per text in input order (a single object when a single text was sent).
 */
@ApiTags('sync predictions (TorchServe-compatible)')
@Controller('predictions')
export class SyncPredictionsController {
  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly predictions: PredictionService,
  ) {}

  @Post(':model')
  @ApiBody({ schema: toJsonSchema(syncBodySchema) })
  @HttpCode(200)
  predictDefault(@Param('model') model: string, @Body() body: unknown, @Req() request: Request) {
    return this.predict(model, undefined, body, request);
  }

  @Post(':model/:version')
  @ApiBody({ schema: toJsonSchema(syncBodySchema) })
  @HttpCode(200)
  predictVersion(
    @Param('model') model: string,
    @Param('version') version: string,
    @Body() body: unknown,
    @Req() request: Request,
  ) {
    return this.predict(model, version, body, request);
  }

  private async predict(
    model: string,
    version: string | undefined,
    body: unknown,
    request: Request,
  ) {
    const { texts, single } = textsFromBody(body, { maxTexts: this.config.MAX_TEXTS_PER_REQUEST });
    const output = await this.predictions.predict({
      model,
      version,
      texts,
      probabilities: request.query.probabilities === 'true',
      requestId: String(request.id),
    });
    return single ? output[0] : output;
  }
}
