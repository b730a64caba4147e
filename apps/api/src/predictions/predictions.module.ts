import { Module } from '@nestjs/common';
import { QueueEstimates } from '../core/queue-estimates';
import { ShadowModule } from '../shadow/shadow.module';
import { WebhooksModule } from '../webhooks/webhooks.module';
import { Admission } from './admission';
import { IdempotencyStore } from './idempotency.store';
import { PredictionQueue } from './prediction-queue';
import { PredictionService } from './prediction.service';
import { PredictionStore } from './prediction.store';
import { RequestCoalescer } from './request-coalescer';
import { SyncPredictionService } from './sync-prediction.service';
import { SyncPredictionsController } from './sync-predictions.controller';
import { V1PredictionsController } from './v1-predictions.controller';

/** Predictions, sync (TorchServe-compatible) and async (poll, wait, cancel, webhook). */
@Module({
  imports: [WebhooksModule, ShadowModule],
  controllers: [SyncPredictionsController, V1PredictionsController],
  providers: [
    PredictionService,
    SyncPredictionService,
    PredictionQueue,
    PredictionStore,
    IdempotencyStore,
    Admission,
    RequestCoalescer,
    QueueEstimates,
  ],
  exports: [PredictionService, SyncPredictionService, PredictionStore],
})
export class PredictionsModule {}
