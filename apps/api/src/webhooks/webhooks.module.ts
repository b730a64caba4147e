import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { WEBHOOK_QUEUE } from '@app/common';
import { PredictionWebhooks } from './prediction-webhooks';
import { WebhookAnnouncer } from './webhook-announcer';
import { WebhookDeliveryStore } from './webhook-delivery.store';
import { WebhookTargetGuard } from './webhook-target-guard';

/**
 * What predictions and batches need of webhooks: the address guard, the delivery state, and
 * announcing an event on the delivery queue. Delivering is the queue consumers' (see
 * QueueConsumersModule).
 */
@Module({
  imports: [BullModule.registerQueue({ name: WEBHOOK_QUEUE })],
  providers: [PredictionWebhooks, WebhookAnnouncer, WebhookDeliveryStore, WebhookTargetGuard],
  exports: [PredictionWebhooks, WebhookAnnouncer, WebhookDeliveryStore, WebhookTargetGuard],
})
export class WebhooksModule {}
