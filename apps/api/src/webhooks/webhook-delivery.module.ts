import { Module, type DynamicModule } from '@nestjs/common';
import { BatchesModule } from '../batches/batches.module';
import { PredictionsModule } from '../predictions/predictions.module';
import { WebhookDeliverer } from './webhook-deliverer';
import { WebhooksModule } from './webhooks.module';

/**
 * Delivers webhooks from their queue: it reads the prediction or batch it announces, so it
 * depends on both features, which depend only on WebhooksModule. Without a secret (or with
 * webhooks off) nothing is delivered and nothing consumes the queue.
 */
@Module({})
export class WebhookDeliveryModule {
  static forRoot(enabled: boolean): DynamicModule {
    return {
      module: WebhookDeliveryModule,
      imports: [WebhooksModule, PredictionsModule, BatchesModule],
      providers: enabled ? [WebhookDeliverer] : [],
    };
  }
}
