import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { BatchFinisher } from './batches/batch-finisher';
import { BatchesController } from './batches/batches.controller';
import { BatchService } from './batches/batch.service';
import { PingController } from './health/ping.controller';
import { ApiKeyGuard } from './infra/api-key.guard';
import { sharedProviders, type SharedServices } from './infra/shared';
import { IdempotencyKeys } from './predictions/idempotency';
import { PredictionService } from './predictions/prediction.service';
import { SyncPredictionsController } from './predictions/sync-predictions.controller';
import { V1PredictionsController } from './predictions/v1-predictions.controller';
import { ProblemFilter } from './problem/problem.filter';
import { WebhookDeliverer } from './webhooks/webhook-deliverer';
import { WebhookState } from './webhooks/webhook-state';
import { WebhookTargetGuard } from './webhooks/webhook-target-guard';

/** The inference API (default port 8080): predictions, sync and async, webhooks, ping. */
@Module({})
export class InferenceModule {
  static forRoot(shared: SharedServices): DynamicModule {
    return {
      module: InferenceModule,
      controllers: [
        PingController,
        SyncPredictionsController,
        V1PredictionsController,
        BatchesController,
      ],
      providers: [
        ...sharedProviders(shared),
        { provide: APP_FILTER, useClass: ProblemFilter },
        PredictionService,
        IdempotencyKeys,
        ApiKeyGuard,
        WebhookState,
        WebhookTargetGuard,
        WebhookDeliverer,
        BatchService,
        BatchFinisher,
      ],
    };
  }
}
