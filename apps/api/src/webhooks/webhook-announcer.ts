import { Inject, Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import {
  VersionQueues,
  WEBHOOK_QUEUE,
  webhookJobOptions,
  type WebhookEvent,
  type WebhookJobData,
} from '@app/common';
import { API_CONFIG, type ApiConfig } from '../config';

/**
 * Puts webhook deliveries on their queue; the job id makes a repeated announcement a no-op.
 * Announcements are made while a request waits (a canceled prediction), so the queue is the
 * request connection's, which fails at once while Redis is away; the deliverer consumes it on
 * its own connection.
 */
@Injectable()
export class WebhookAnnouncer {
  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly queues: VersionQueues,
  ) {}

  /** The handle of the moment (the cache may replace one, see VersionQueues). */
  private get queue(): Queue<WebhookJobData> {
    return this.queues.queue<WebhookJobData>(WEBHOOK_QUEUE);
  }

  /** Announces an event of a prediction. */
  async prediction(predictionId: string, url: string, event: WebhookEvent): Promise<void> {
    await this.queue.add(event, { predictionId, url, event }, this.options(predictionId, event));
  }

  /** Announces a finished batch (its delivery state is not tracked per prediction). */
  async batch(batchId: string, url: string): Promise<void> {
    await this.queue.add(
      'completed',
      { batchId, url, event: 'completed' },
      this.options(`batch-${batchId}`, 'completed'),
    );
  }

  private options(subject: string, event: WebhookEvent) {
    return webhookJobOptions(
      subject,
      event,
      this.config.WEBHOOK_MAX_ATTEMPTS,
      this.config.WEBHOOK_BACKOFF_MS,
      this.config.RESULT_TTL_S,
    );
  }
}
