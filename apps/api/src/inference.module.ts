import { BullModule } from '@nestjs/bullmq';
import { Module, type DynamicModule } from '@nestjs/common';
import { BatchesModule } from './batches/batches.module';
import { CoreModule, type SharedServices } from './core/core.module';
import { HealthModule } from './health/health.module';
import { PredictionsModule } from './predictions/predictions.module';
import { ShadowComparisonModule } from './shadow/shadow-comparison.module';
import { V2Module } from './v2/v2.module';
import { WebhookDeliveryModule } from './webhooks/webhook-delivery.module';

/**
 * The inference API (default port 8080): predictions, sync and async, batches, webhooks, ping,
 * the Open Inference Protocol (`/v2`), and the comparison of shadow answers.
 */
@Module({})
export class InferenceModule {
  static forRoot(shared: SharedServices): DynamicModule {
    const { config } = shared;
    return {
      module: InferenceModule,
      imports: [
        CoreModule.forRoot(shared, { bindRequestLogger: false }),
        BullModule.forRoot({ connection: shared.consumerRedis, prefix: config.KEY_PREFIX }),
        HealthModule,
        PredictionsModule,
        BatchesModule,
        V2Module,
        ShadowComparisonModule,
        WebhookDeliveryModule.forRoot(config.WEBHOOKS_ENABLED && Boolean(config.WEBHOOK_SECRET)),
      ],
    };
  }
}
