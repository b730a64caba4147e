import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Inject } from '@nestjs/common';
import type { Job } from 'bullmq';
import { PinoLogger } from 'nestjs-pino';
import { Webhook } from 'standardwebhooks';
import { fetch } from 'undici';
import { WEBHOOK_QUEUE, type WebhookJobData, isRedisUnavailable } from '@app/common';
import { API_CONFIG, type ApiConfig } from '../config';
import { ApiMetrics } from '../metrics/api-metrics';
import { BatchService } from '../batches/batch.service';
import { PredictionService } from '../predictions/prediction.service';
import { WebhookDeliveryStore } from '../webhooks/webhook-delivery.store';
import { WebhookTargetGuard } from '../webhooks/webhook-target-guard';

/**
 * Delivers webhooks from their own queue, signed the Standard Webhooks way
 * (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`).
 * Redirects are not followed; a non-2xx answer or a network error is retried with
 * exponential backoff, and the last failure leaves the delivery as a dead letter.
 */
@Processor(WEBHOOK_QUEUE, { concurrency: 16 })
export class WebhookDeliverer extends WorkerHost {
  private readonly signer: Webhook;
  private readonly timeoutMs: number;

  constructor(
    @Inject(API_CONFIG) config: ApiConfig,
    private readonly predictions: PredictionService,
    private readonly batches: BatchService,
    private readonly state: WebhookDeliveryStore,
    private readonly guard: WebhookTargetGuard,
    private readonly metrics: ApiMetrics,
    private readonly logger: PinoLogger,
  ) {
    super();
    this.signer = new Webhook(config.WEBHOOK_SECRET!);
    this.timeoutMs = config.WEBHOOK_TIMEOUT_MS;
  }

  @OnWorkerEvent('error')
  onError(error: Error): void {
    // A lost connection is reported once by its owner (see main.ts), not by every consumer.
    if (isRedisUnavailable(error)) return;
    this.logger.error({ err: error }, 'webhook queue consumer error');
  }

  async process(job: Job<WebhookJobData>): Promise<void> {
    const signer = this.signer;
    const { predictionId, batchId, url, event } = job.data;
    const data = predictionId
      ? await this.predictions.view(predictionId)
      : await this.batches.view(batchId!);
    const now = new Date();
    const type = `${predictionId ? 'prediction' : 'batch'}.${event}`;
    const body = JSON.stringify({ type, timestamp: now.toISOString(), data });
    const messageId = job.id!;
    const attempt = job.attemptsMade + 1;
    const last = attempt >= (job.opts.attempts ?? 1);
    let statusCode: number | undefined;
    try {
      const response = await fetch(url, {
        method: 'POST',
        body,
        redirect: 'manual',
        dispatcher: this.guard.agent,
        signal: AbortSignal.timeout(this.timeoutMs),
        headers: {
          'content-type': 'application/json',
          'webhook-id': messageId,
          'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
          'webhook-signature': signer.sign(messageId, now, body),
        },
      });
      statusCode = response.status;
      await response.body?.cancel();
      if (statusCode < 200 || statusCode >= 300)
        throw new Error(`receiver answered HTTP ${statusCode}`);
    } catch (error) {
      const message = (error as Error).cause
        ? String((error as Error).cause)
        : (error as Error).message;
      const outcome = last ? 'dead_letter' : 'retrying';
      this.metrics.webhookDeliveries.inc({ outcome });
      if (predictionId)
        await this.state.record(predictionId, {
          status: outcome,
          event,
          attempt,
          statusCode,
          error: message,
        });
      throw new Error(message);
    }
    this.metrics.webhookDeliveries.inc({ outcome: 'delivered' });
    if (predictionId)
      await this.state.record(predictionId, { status: 'delivered', event, attempt, statusCode });
  }
}
