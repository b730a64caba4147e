import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { WEBHOOK_QUEUE } from '@app/common';
import { WebhookAnnouncer } from './webhook-announcer';
import { WebhookDeliveryStore } from './webhook-delivery.store';
import { WebhookTargetGuard } from './webhook-target-guard';

/**
 * What predictions and batches need of webhooks: the address guard, the delivery state, and
 * announcing an event on the delivery queue. Delivering is WebhookDeliveryModule's.
 */
@Module({
  imports: [BullModule.registerQueue({ name: WEBHOOK_QUEUE })],
  providers: [WebhookAnnouncer, WebhookDeliveryStore, WebhookTargetGuard],
  exports: [WebhookAnnouncer, WebhookDeliveryStore, WebhookTargetGuard],
})
export class WebhooksModule {}
