import { Injectable } from '@nestjs/common';
import type { WebhookEvent } from '@app/common';
import { WebhookAnnouncer } from './webhook-announcer';
import { WebhookDeliveryStore, type WebhookStatus } from './webhook-delivery.store';
import { WebhookTargetGuard } from './webhook-target-guard';

/** A prediction's webhook: where it goes and which events it wants. */
export interface PredictionWebhook {
  url: string;
  events: WebhookEvent[];
}

/**
 * What a prediction does with its webhook, in one place: its address is checked, its delivery
 * state starts as pending and is read back with the prediction, and events are announced on the
 * delivery queue (a worker announces those it sees; the API those it makes, a cancellation).
 */
@Injectable()
export class PredictionWebhooks {
  constructor(
    private readonly guard: WebhookTargetGuard,
    private readonly state: WebhookDeliveryStore,
    private readonly announcer: WebhookAnnouncer,
  ) {}

  /** Throws a 422 problem when `url` may not receive webhooks (see WebhookTargetGuard). */
  assertAllowed(url: string): Promise<void> {
    return this.guard.assertAllowed(url);
  }

  /** Records prediction `id`'s webhook, nothing sent yet; before its job is queued. */
  subscribe(id: string, webhook: PredictionWebhook): Promise<void> {
    return this.state.init(id, webhook);
  }

  /** The delivery state of prediction `id`'s webhook, if it has one. */
  status(id: string): Promise<WebhookStatus | undefined> {
    return this.state.read(id);
  }

  /** Announces `event` of prediction `id` to `webhook`, if it wants that event. */
  async announce(id: string, webhook: PredictionWebhook, event: WebhookEvent): Promise<void> {
    if (webhook.events.includes(event)) await this.announcer.prediction(id, webhook.url, event);
  }
}
