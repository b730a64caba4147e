import { Controller, HttpCode, Inject, Param, Post, Put, Req } from '@nestjs/common';
import type { FastifyRequest as Request } from 'fastify';
import { API_CONFIG, type ApiConfig } from '../config';
import { withProvenance } from '../core/provenance';
import { REQUEST_TIMEOUT_HEADER, deadlineOf } from './deadline';
import { SyncPredictionService } from './sync-prediction.service';
import { SyncPredictionDocs, SyncPredictionsDocs } from './predictions.docs';
import { torchServeTexts } from './torchserve-body';

/**
 * TorchServe-compatible inference: `POST` (or `PUT`, as `curl -T` sends) to
 * `/predictions/:model[/:version]` answers one result per text in input order (a single object
 * when a single text was sent). The body is read as TorchServe reads it: see `torchServeTexts`.
 */
@SyncPredictionsDocs()
@Controller('predictions')
export class SyncPredictionsController {
  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly predictions: SyncPredictionService,
  ) {}

  @Post(':model')
  @SyncPredictionDocs('post', false)
  @HttpCode(200)
  predictDefault(@Param('model') model: string, @Req() request: Request) {
    return this.predict(model, undefined, request);
  }

  /** `curl -T file URL` sends a PUT: TorchServe answers it like a POST, and so does this. */
  @Put(':model')
  @SyncPredictionDocs('put', false)
  @HttpCode(200)
  putDefault(@Param('model') model: string, @Req() request: Request) {
    return this.predict(model, undefined, request);
  }

  @Post(':model/:version')
  @SyncPredictionDocs('post', true)
  @HttpCode(200)
  predictVersion(
    @Param('model') model: string,
    @Param('version') version: string,
    @Req() request: Request,
  ) {
    return this.predict(model, version, request);
  }

  @Put(':model/:version')
  @SyncPredictionDocs('put', true)
  @HttpCode(200)
  putVersion(
    @Param('model') model: string,
    @Param('version') version: string,
    @Req() request: Request,
  ) {
    return this.predict(model, version, request);
  }

  private async predict(model: string, version: string | undefined, request: Request) {
    const query = request.query as Record<string, unknown>;
    const deadline = deadlineOf(
      request.headers[REQUEST_TIMEOUT_HEADER] as string | undefined,
      query.deadline_ms,
      'the deadline_ms query parameter',
    );
    const { texts, single } = torchServeTexts(request, {
      maxTexts: this.config.MAX_TEXTS_PER_REQUEST,
    });
    const result = await this.predictions.predict({
      model,
      version,
      texts,
      probabilities: query.probabilities === 'true',
      requestId: String(request.id),
      deadline,
    });
    const output = query.provenance === 'true' ? withProvenance(result) : result.output;
    return single ? output[0] : output;
  }
}
