import { BullModule } from '@nestjs/bullmq';
import { Module, type DynamicModule } from '@nestjs/common';
import { BatchesModule } from './batches/batches.module';
import { deliversWebhooks } from './config';
import { QueueConsumersModule } from './consumers/queue-consumers.module';
import { CoreModule, type SharedServices } from './core/core.module';
import { HealthModule } from './health/health.module';
import { PredictionsModule } from './predictions/predictions.module';
import { V2Module } from './v2/v2.module';

/**
 * The inference API (default port 8080): predictions, sync and async, batches, webhooks, ping,
 * the Open Inference Protocol (`/v2`), and the API's queue consumers (finished batches, webhook
 * deliveries, shadow comparisons).
 */
@Module({})
export class InferenceModule {
  static forRoot(shared: SharedServices): DynamicModule {
    const { config } = shared;
    return {
      module: InferenceModule,
      imports: [
        CoreModule.forRoot(shared),
        BullModule.forRoot({ connection: shared.consumerRedis, prefix: config.KEY_PREFIX }),
        HealthModule,
        PredictionsModule,
        BatchesModule,
        V2Module,
        QueueConsumersModule.forRoot({
          webhooks: deliversWebhooks(config),
        }),
      ],
    };
  }
}
