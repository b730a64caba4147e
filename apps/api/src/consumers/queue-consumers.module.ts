import { Module, type DynamicModule } from '@nestjs/common';
import { BatchesModule } from '../batches/batches.module';
import { PredictionsModule } from '../predictions/predictions.module';
import { ShadowModule } from '../shadow/shadow.module';
import { WebhooksModule } from '../webhooks/webhooks.module';
import { BatchFinisher } from './batch-finisher';
import { ExpiredResultSweep } from './expired-result-sweep';
import { RetiredVersionSweep } from './retired-version-sweep';
import { RetiredVersions } from './retired-versions';
import { ShadowComparer } from './shadow-comparer';
import { WebhookDeliverer } from './webhook-deliverer';

/**
 * The API's queue consumers, each a `@nestjs/bullmq` processor of a queue whose name is fixed:
 * finished batches are summed up, webhooks delivered, shadow answers compared. They read what
 * the features store (predictions, batches, shadow figures), so they live here, above the
 * features, and no feature depends on another to be consumed. Without a webhook secret (or with
 * webhooks off) nothing is delivered and nothing consumes the webhooks queue. Beside them, the
 * sweep of finished jobs past their time, and the one that ends what unregistered versions left.
 */
@Module({})
export class QueueConsumersModule {
  static forRoot({ webhooks }: { webhooks: boolean }): DynamicModule {
    return {
      module: QueueConsumersModule,
      imports: [PredictionsModule, BatchesModule, ShadowModule, WebhooksModule],
      providers: [
        BatchFinisher,
        ShadowComparer,
        ExpiredResultSweep,
        RetiredVersions,
        RetiredVersionSweep,
        ...(webhooks ? [WebhookDeliverer] : []),
      ],
    };
  }
}
