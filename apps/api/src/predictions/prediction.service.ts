import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import {
  DEADLINE_EXCEEDED,
  JobWaiter,
  predictionQueueName,
  type PredictionJobData,
  type PredictionJobResult,
  type WebhookEvent,
} from '@app/common';
import type { VersionRecord } from '@app/registry';
import { API_CONFIG, type ApiConfig } from '../config';
import { ModelCatalog } from '../core/model-catalog';
import { Problem, notFound } from '../core/problem';
import { ApiMetrics } from '../metrics/api-metrics';
import { WebhookAnnouncer } from '../webhooks/webhook-announcer';
import { WebhookDeliveryStore, type WebhookStatus } from '../webhooks/webhook-delivery.store';
import { WebhookTargetGuard } from '../webhooks/webhook-target-guard';
import { Admission } from './admission';
import { deadlineExceeded } from './deadline';
import { IdempotencyStore } from './idempotency.store';
import { describePrediction, unfinished, type PredictionView } from './prediction-view';
import { PredictionStore, type PredictionJob, type StoredPrediction } from './prediction.store';
import { RequestCoalescer } from './request-coalescer';

export interface CreatePrediction {
  model: string;
  version?: string;
  texts: string[];
  probabilities?: boolean;
  webhook?: { url: string; events: WebhookEvent[] };
  requestId?: string;
  /** Epoch ms by which a worker must have started it (see `deadlineOf`). */
  deadline?: number;
}

/**
 * The story of a prediction: resolve the version, put the job on its queue, wait for it,
 * describe it, cancel it. Never touches HTTP or Redis keys.
 */
@Injectable()
export class PredictionService {
  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly catalog: ModelCatalog,
    private readonly store: PredictionStore,
    private readonly idempotency: IdempotencyStore,
    private readonly waiter: JobWaiter,
    private readonly webhookGuard: WebhookTargetGuard,
    private readonly webhookState: WebhookDeliveryStore,
    private readonly announcer: WebhookAnnouncer,
    private readonly metrics: ApiMetrics,
    private readonly admission: Admission,
    private readonly coalescer: RequestCoalescer,
  ) {}

  /**
   * Creates an async prediction (or, for a retry with the same `Idempotency-Key` and body, finds
   * the first one), waits up to `waitMs` for it to finish, and describes it.
   */
  async submit(
    request: CreatePrediction,
    options: { idempotencyKey?: string; fingerprint?: unknown; waitMs?: number } = {},
  ): Promise<PredictionView> {
    const record = await this.catalog.resolve(request.model, request.version);
    let id = PredictionStore.newId(record);
    const key = options.idempotencyKey;
    const existing = key
      ? await this.idempotency.claim(key, fingerprint(options.fingerprint ?? request), id)
      : undefined;
    if (existing) {
      id = existing;
    } else {
      let job: PredictionJob;
      try {
        if (request.webhook) await this.webhookGuard.assertAllowed(request.webhook.url);
        await this.admission.admitAsync(record, request.texts.length);
        job = await this.enqueue(record, request, id, 'async');
      } catch (error) {
        if (key) await this.idempotency.release(key);
        throw error;
      }
      this.metrics.predictions.inc({ ...labelsOf(record), kind: 'async', outcome: 'accepted' });
      // Not waiting: the answer says what was accepted, as it was accepted (no second read).
      if (!options.waitMs) return describePrediction(job, 'waiting', undefined, pending(request));
    }
    if (options.waitMs) {
      // The id names its queue: a retried create may find a prediction of another version.
      const { model, version } = PredictionStore.versionOf(id)!;
      await this.waiter.wait(predictionQueueName(model, version), id, options.waitMs);
    }
    return this.view(id);
  }

  /** Enqueues a job and waits for its result, as the sync TorchServe-style API does. */
  async predict(request: CreatePrediction): Promise<PredictionJobResult> {
    const record = await this.catalog.resolve(request.model, request.version);
    const count = (outcome: string) =>
      this.metrics.predictions.inc({ ...labelsOf(record), kind: 'sync', outcome });
    try {
      await this.catalog.assertServed(record);
    } catch (error) {
      count('unserved');
      throw error;
    }
    await this.admission.admitSync(record, request.texts.length);
    const start = performance.now();
    // A deadline before SYNC_TIMEOUT_MS is what ends a wait that times out.
    const deadlineFirst =
      request.deadline !== undefined && request.deadline - Date.now() < this.config.SYNC_TIMEOUT_MS;
    const { id, outcome } = await this.coalescer.answer(record, request);
    if (outcome.status === 'completed') {
      count('succeeded');
      this.metrics.predictionDuration.observe(labelsOf(record), (performance.now() - start) / 1000);
      return outcome.value as PredictionJobResult;
    }
    if (
      outcome.status === 'failed'
        ? outcome.reason === DEADLINE_EXCEEDED
        : outcome.status === 'timeout' && deadlineFirst
    ) {
      count('deadline_exceeded');
      throw deadlineExceeded(id);
    }
    if (outcome.status === 'failed') {
      count('failed');
      throw new Problem(500, 'Prediction failed', outcome.reason, { id });
    }
    count('timeout');
    throw new Problem(
      504,
      'Prediction timed out',
      `no answer within ${this.config.SYNC_TIMEOUT_MS} ms; poll its URL`,
      { id, url: `/v1/predictions/${id}` },
    );
  }

  /** The prediction resource; 404 for an unknown or expired id. */
  async view(id: string): Promise<PredictionView> {
    const found = await this.find(id);
    // A job canceled while queued left its queue; its last view was kept.
    if (!found.job) {
      const kept = JSON.parse(found.canceledView) as PredictionView;
      return kept.webhook ? { ...kept, webhook: await this.webhookState.read(id) } : kept;
    }
    const { job, state, part } = found;
    const webhook = job.data.webhook ? await this.webhookState.read(id) : undefined;
    return describePrediction(job, state, found.canceledAt, webhook, part);
  }

  /** Cancels a prediction that has not finished; a finished one answers 409. */
  async cancel(id: string): Promise<PredictionView> {
    const found = await this.find(id);
    const status = found.job
      ? describePrediction(found.job, found.state, undefined, undefined, found.part).status
      : 'canceled';
    if (!found.job || !unfinished(status)) {
      throw new Problem(
        409,
        'Already finished',
        `prediction "${id}" has already finished: ${status}`,
        {
          prediction_status: status,
        },
      );
    }
    const { job } = found;
    const at = new Date().toISOString();
    const webhook = job.data.webhook ? await this.webhookState.read(id) : undefined;
    const canceled = describePrediction(job, 'canceled', at, webhook, found.part);
    await this.store.cancel(id, job, at, canceled, status === 'queued');
    if (job.data.webhook?.events.includes('completed')) {
      await this.announcer.prediction(id, job.data.webhook.url, 'completed');
    }
    return canceled;
  }

  /**
   * The stored prediction; 404 for an id this API never made, of a version that is not
   * registered (such an id touches no queue), or expired.
   */
  private async find(id: string): Promise<StoredPrediction> {
    const version = PredictionStore.versionOf(id);
    const found =
      version && (await this.catalog.has(version.model, version.version))
        ? await this.store.find(id)
        : undefined;
    if (!found) throw notFound(`no prediction with id "${id}" (unknown or expired)`);
    return found;
  }

  private async enqueue(
    record: VersionRecord,
    request: CreatePrediction,
    id: string,
    kind: 'sync' | 'async',
  ) {
    const data: PredictionJobData = {
      model: record.name,
      version: record.version,
      texts: request.texts,
      probabilities: request.probabilities,
      requestId: request.requestId,
      webhook: request.webhook,
      deadline: request.deadline,
    };
    if (request.webhook) await this.webhookState.init(id, request.webhook);
    return this.store.add(id, data, kind);
  }
}

/** The delivery state of a webhook nothing was sent for yet. */
const pending = (request: CreatePrediction): WebhookStatus | undefined =>
  request.webhook && { ...request.webhook, status: 'pending', attempts: 0 };

const labelsOf = (record: VersionRecord) => ({ model: record.name, version: record.version });

/** Fingerprint of a request body, for idempotent retries. */
const fingerprint = (body: unknown) =>
  createHash('sha256').update(JSON.stringify(body)).digest('hex');
