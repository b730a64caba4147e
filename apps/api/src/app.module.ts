import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { API_CONFIG, type ApiConfig } from './config';
import { PingController } from './health/ping.controller';
import { ApiKeyGuard } from './infra/api-key.guard';
import { QueueHub } from './infra/queue-hub';
import { infraProviders } from './infra/redis.provider';
import { ModelStore } from './models/model-store';
import { IdempotencyKeys } from './predictions/idempotency';
import { PredictionService } from './predictions/prediction.service';
import { SyncPredictionsController } from './predictions/sync-predictions.controller';
import { V1PredictionsController } from './predictions/v1-predictions.controller';
import { ProblemFilter } from './problem/problem.filter';
import { WebhookDeliverer } from './webhooks/webhook-deliverer';
import { WebhookState } from './webhooks/webhook-state';
import { WebhookTargetGuard } from './webhooks/webhook-target-guard';

/** The inference API: predictions (sync and async), webhooks, health. */
@Module({})
export class AppModule {
  static forRoot(config: ApiConfig): DynamicModule {
    return {
      module: AppModule,
      controllers: [PingController, SyncPredictionsController, V1PredictionsController],
      providers: [
        { provide: API_CONFIG, useValue: config },
        { provide: APP_FILTER, useClass: ProblemFilter },
        ...infraProviders,
        QueueHub,
        ModelStore,
        PredictionService,
        IdempotencyKeys,
        ApiKeyGuard,
        WebhookState,
        WebhookTargetGuard,
        WebhookDeliverer,
      ],
    };
  }
}
