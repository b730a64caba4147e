import type { Job, Queue } from 'bullmq';
import {
  DEFAULT_KEEP_S,
  webhookJobOptions,
  type Logger,
  type PredictionJobData,
  type WebhookEvent,
  type WebhookJobData,
} from '@app/common';
import type { WorkerConfig } from './config';

/**
 * Puts webhook deliveries of prediction events on the webhooks queue (the API sends them). A
 * delivery's id is the prediction's and the event's, so announcing twice (a job handed back,
 * or delivered twice) is a no-op.
 */
export class WebhookAnnouncer {
  constructor(
    /** The webhooks queue; none when webhooks are off. */
    private readonly queue: Queue<WebhookJobData> | undefined,
    private readonly config: WorkerConfig,
    private readonly logger: Logger,
  ) {}

  /** Enqueues the delivery of `event` for `job`, if the job asked for it. */
  announce(job: Job<PredictionJobData>, event: WebhookEvent): void {
    const webhook = job.data.webhook;
    if (!this.queue || !webhook || !webhook.events.includes(event)) return;
    this.queue
      .add(
        event,
        { predictionId: job.id!, url: webhook.url, event },
        webhookJobOptions(
          job.id!,
          event,
          this.config.WEBHOOK_MAX_ATTEMPTS,
          this.config.WEBHOOK_BACKOFF_MS,
          webhook.keepS ?? DEFAULT_KEEP_S,
        ),
      )
      .catch((error) => this.logger.error({ err: error, jobId: job.id }, 'cannot enqueue webhook'));
  }
}
