import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { PredictionJobData, WebhookEvent } from '@app/common';
import type { VersionRecord } from '@app/registry';
import { API_CONFIG, type ApiConfig } from '../config';
import { ModelCatalog, type ResolvedVersion } from '../core/model-catalog';
import { Problem, notFound } from '../core/problem';
import { ApiMetrics } from '../metrics/api-metrics';
import type { WebhookStatus } from '../webhooks/webhook-delivery.store';
import { PredictionWebhooks } from '../webhooks/prediction-webhooks';
import { Admission } from './admission';
import { IdempotencyStore } from './idempotency.store';
import { describePrediction, unfinished, type PredictionView } from './prediction-view';
import { PredictionQueue } from './prediction-queue';
import { PredictionStore, type PredictionJob, type StoredPrediction } from './prediction.store';

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
 * The story of an async prediction, a resource: resolve the version, put the job on its queue,
 * wait for it a while, describe it, cancel it. Never touches HTTP or Redis keys. (A sync
 * prediction's story is SyncPredictionService's.)
 */
@Injectable()
export class PredictionService {
  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly catalog: ModelCatalog,
    private readonly admission: Admission,
    private readonly queue: PredictionQueue,
    private readonly store: PredictionStore,
    private readonly idempotency: IdempotencyStore,
    private readonly webhooks: PredictionWebhooks,
    private readonly metrics: ApiMetrics,
  ) {}

  /**
   * Creates an async prediction (or, for a retry with the same `Idempotency-Key` and body, finds
   * the first one), waits up to `waitMs` for it to finish, and describes it.
   */
  async submit(
    request: CreatePrediction,
    options: { idempotencyKey?: string; fingerprint?: unknown; waitMs?: number } = {},
  ): Promise<PredictionView> {
    const target = await this.catalog.resolve(request.model, request.version);
    const { record } = target;
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
        if (request.webhook) await this.webhooks.assertAllowed(request.webhook.url);
        const live = await this.catalog.live(record);
        await this.admission.admitAsync(record, request.texts.length, live);
        job = await this.enqueue(target, request, id, Boolean(options.waitMs));
      } catch (error) {
        if (key) await this.idempotency.release(key);
        throw error;
      }
      this.metrics.predictions.inc({ ...labelsOf(record), kind: 'async', outcome: 'accepted' });
      // Not waiting: the answer says what was accepted, as it was accepted (no second read).
      if (!options.waitMs) return describePrediction(job, 'waiting', undefined, pending(request));
    }
    // A job added here names this process, whose reply channel answers it; another's (an
    // idempotent retry) is answered by its queue's events.
    if (options.waitMs) await this.queue.wait(id, options.waitMs, { replyTo: !existing });
    return this.view(id);
  }

  /** The prediction resource; 404 for an unknown or expired id. */
  async view(id: string): Promise<PredictionView> {
    const found = await this.find(id);
    // A job canceled while queued left its queue; its last view was kept.
    if (!found.job) {
      const kept = JSON.parse(found.canceledView) as PredictionView;
      return kept.webhook ? { ...kept, webhook: await this.webhooks.status(id) } : kept;
    }
    const { job, state, part } = found;
    const webhook = job.data.webhook ? await this.webhooks.status(id) : undefined;
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
    const webhook = job.data.webhook ? await this.webhooks.status(id) : undefined;
    const canceled = describePrediction(job, 'canceled', at, webhook, found.part);
    await this.store.cancel(id, job, at, canceled, status === 'queued');
    if (job.data.webhook) await this.webhooks.announce(id, job.data.webhook, 'completed');
    return canceled;
  }

  /**
   * The stored prediction; 404 for an id this API never made, of a version that is not and
   * never was registered (such an id touches no queue), or expired. A prediction of a version
   * since unregistered stays readable for its time (it may have failed as version_unregistered).
   */
  private async find(id: string): Promise<StoredPrediction> {
    const version = PredictionStore.versionOf(id);
    const found =
      version && (await this.catalog.hasOrHad(version.model, version.version))
        ? await this.store.find(id)
        : undefined;
    if (!found) throw notFound(`no prediction with id "${id}" (unknown or expired)`);
    return found;
  }

  private async enqueue(
    target: ResolvedVersion,
    request: CreatePrediction,
    id: string,
    waited: boolean,
  ) {
    const { record } = target;
    const data: PredictionJobData = {
      model: record.name,
      version: record.version,
      texts: request.texts,
      probabilities: request.probabilities,
      requestId: request.requestId,
      // Its deliveries, announced by the worker, are kept as long as the prediction.
      webhook: request.webhook && { ...request.webhook, keepS: this.config.RESULT_TTL_S },
      deadline: request.deadline,
      replyTo: waited ? this.queue.replyAddress : undefined,
    };
    if (request.webhook) await this.webhooks.subscribe(id, request.webhook);
    return this.queue.add(target, id, data, 'async');
  }
}

/** The delivery state of a webhook nothing was sent for yet. */
const pending = (request: CreatePrediction): WebhookStatus | undefined =>
  request.webhook && { ...request.webhook, status: 'pending', attempts: 0 };

const labelsOf = (record: VersionRecord) => ({ model: record.name, version: record.version });

/** Fingerprint of a request body, for idempotent retries. */
const fingerprint = (body: unknown) =>
  createHash('sha256').update(JSON.stringify(body)).digest('hex');
