import { createHash, randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Job, JobState } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  predictionQueueName,
  type PredictionJobData,
  type PredictionJobResult,
  type WebhookEvent,
} from '@app/common';
import {
  ModelRegistry,
  resolveIn,
  versionKey,
  type ModelRecord,
  type VersionRecord,
} from '@app/registry';
import { API_CONFIG, type ApiConfig } from '../config';
import { ApiMetrics } from '../metrics/api-metrics';
import { QueueHub } from '../infra/queue-hub';
import { REDIS } from '../infra/shared';
import { Problem, notFound } from '../problem/problem';
import { WebhookState, type WebhookStatus } from '../webhooks/webhook-state';
import { WebhookTargetGuard } from '../webhooks/webhook-target-guard';

/** Status of a prediction as callers see it. */
export type PredictionStatus = 'queued' | 'processing' | 'succeeded' | 'failed' | 'canceled';

/** The prediction resource of the async API (also the webhook payload). */
export interface PredictionView {
  id: string;
  model: string;
  version: string;
  status: PredictionStatus;
  input: { data: string[] };
  output: unknown[] | null;
  error: string | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  metrics: {
    queue_time_ms: number | null;
    inference_time_ms: number | null;
    batch_size: number | null;
  };
  webhook?: WebhookStatus;
  urls: { get: string; cancel: string };
}

export interface CreatePrediction {
  model: string;
  version?: string;
  texts: string[];
  probabilities?: boolean;
  webhook?: { url: string; events: WebhookEvent[] };
  requestId?: string;
}

const QUEUED_STATES: ReadonlySet<JobState | 'unknown'> = new Set([
  'waiting',
  'delayed',
  'prioritized',
  'waiting-children',
]);

/**
 * The story of a prediction: resolve the version, put the job on its queue, wait for it,
 * describe it, cancel it. Never touches HTTP.
 */
@Injectable()
export class PredictionService {
  private workerCounts?: { at: number; counts: Map<string, number> };
  private readonly models = new Map<string, { at: number; record: ModelRecord }>();

  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly registry: ModelRegistry,
    private readonly queues: QueueHub,
    private readonly webhookState: WebhookState,
    private readonly webhookGuard: WebhookTargetGuard,
    private readonly metrics: ApiMetrics,
  ) {}

  /** Where a canceled prediction keeps its state (written only on cancel). */
  private canceledKey(id: string): string {
    return `${this.config.KEY_PREFIX}:canceled:${id}`;
  }

  /**
   * A new prediction id. It names the version's queue (`<model>@<version>.<uuid>`) so that
   * finding a prediction costs no lookup and creating one writes nothing but the job.
   */
  static newId(record: { name: string; version: string }): string {
    return `${versionKey(record.name, record.version)}.${randomUUID()}`;
  }

  /** The queue a prediction id belongs to, or undefined for an id this API never made. */
  static queueOf(id: string): string | undefined {
    const match = /^(.+)@(.+)\.[0-9a-f-]{36}$/.exec(id);
    return match ? predictionQueueName(match[1], match[2]) : undefined;
  }

  /**
   * The version a request goes to (explicit, traffic split or default), from a model record
   * cached for up to a second: registry changes reach every API replica within that time.
   */
  async resolve(model: string, version?: string): Promise<VersionRecord> {
    const now = Date.now();
    let cached = this.models.get(model);
    if (!cached || now - cached.at > 1000) {
      cached = { at: now, record: await this.registry.getModel(model) };
      this.models.set(model, cached);
    }
    return resolveIn(cached.record, version);
  }

  /** Resolves the version and enqueues the job (with the given id, or a new one). */
  async create(request: CreatePrediction, id?: string): Promise<Job<PredictionJobData>> {
    const record = await this.resolve(request.model, request.version);
    if (request.webhook) await this.webhookGuard.assertAllowed(request.webhook.url);
    return this.enqueue(record, request, id ?? PredictionService.newId(record));
  }

  private async enqueue(
    record: VersionRecord,
    request: CreatePrediction,
    id: string,
  ): Promise<Job<PredictionJobData>> {
    const data: PredictionJobData = {
      model: record.name,
      version: record.version,
      texts: request.texts,
      probabilities: request.probabilities,
      requestId: request.requestId,
      webhook: request.webhook,
    };
    const ttl = this.config.RESULT_TTL_S;
    if (request.webhook) await this.webhookState.init(id, request.webhook);
    return this.queues
      .queue<PredictionJobData>(predictionQueueName(record.name, record.version))
      .add('predict', data, {
        jobId: id,
        attempts: this.config.JOB_ATTEMPTS,
        backoff: { type: 'exponential', delay: 500 },
        removeOnComplete: { age: ttl },
        removeOnFail: { age: ttl },
      });
  }

  /** Creates an async prediction and counts it. */
  async submit(request: CreatePrediction, id: string): Promise<Job<PredictionJobData>> {
    const job = await this.create(request, id);
    this.metrics.predictions.inc({
      model: job.data.model,
      version: job.data.version,
      kind: 'async',
      outcome: 'accepted',
    });
    return job;
  }

  /** Fails with 503 when no live worker serves the version, so a sync caller does not hang. */
  async assertServed(record: VersionRecord): Promise<void> {
    const now = Date.now();
    if (!this.workerCounts || now - this.workerCounts.at > 1000) {
      this.workerCounts = { at: now, counts: await this.registry.workerCounts() };
    }
    if (!this.workerCounts.counts.get(versionKey(record.name, record.version))) {
      throw new Problem(
        503,
        'No worker',
        `no live worker serves ${record.name} version ${record.version}`,
        {
          model: record.name,
          version: record.version,
        },
      );
    }
  }

  /** Waits up to `timeoutMs` for the job to finish; true when it did (either way). */
  async waitFor(job: Job<PredictionJobData>, timeoutMs: number): Promise<boolean> {
    if (timeoutMs <= 0) return false;
    const events = await this.queues.queueEvents(job.queueName);
    try {
      await job.waitUntilFinished(events, timeoutMs);
      return true;
    } catch (error) {
      return !/timed out/.test(String((error as Error).message));
    }
  }

  /** Enqueues a job and waits for its output, as the sync TorchServe-style API does. */
  async predict(request: CreatePrediction): Promise<unknown[]> {
    const record = await this.resolve(request.model, request.version);
    const labels = { model: record.name, version: record.version, kind: 'sync' };
    const count = (outcome: string) => this.metrics.predictions.inc({ ...labels, outcome });
    try {
      await this.assertServed(record);
    } catch (error) {
      count('unserved');
      throw error;
    }
    const start = performance.now();
    const id = PredictionService.newId(record);
    const queueName = predictionQueueName(record.name, record.version);
    // Listen before enqueueing: the answer cannot slip past, and no extra look-up is needed.
    const answer = this.queues.waitForJob(queueName, id, this.config.SYNC_TIMEOUT_MS);
    await this.enqueue(record, request, id);
    const outcome = await answer;
    if (outcome.status === 'completed') {
      count('succeeded');
      const seconds = (performance.now() - start) / 1000;
      this.metrics.predictionDuration.observe(
        { model: record.name, version: record.version },
        seconds,
      );
      return (outcome.value as PredictionJobResult).output;
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
      {
        id,
        url: `/v1/predictions/${id}`,
      },
    );
  }

  async find(id: string): Promise<{
    job?: Job<PredictionJobData, PredictionJobResult>;
    canceled: Record<string, string>;
  }> {
    const queue = PredictionService.queueOf(id);
    if (!queue) throw notFound(`no prediction with id "${id}"`);
    const [job, canceled] = await Promise.all([
      this.queues.queue<PredictionJobData>(queue).getJob(id),
      this.redis.hgetall(this.canceledKey(id)),
    ]);
    return { job: job as Job<PredictionJobData, PredictionJobResult> | undefined, canceled };
  }

  async view(id: string): Promise<PredictionView> {
    const { job, canceled } = await this.find(id);
    // A job canceled while queued left its queue; its last view was kept.
    if (!job && canceled.view) {
      const view = JSON.parse(canceled.view) as PredictionView;
      if (view.webhook) view.webhook = await this.webhookState.read(id);
      return view;
    }
    if (!job) throw notFound(`no prediction with id "${id}" (unknown or expired)`);
    const state = canceled.at ? 'canceled' : await job.getState();
    return this.describe(job, state, canceled.at);
  }

  /** Cancels a prediction that has not finished; a finished one answers 409. */
  async cancel(id: string): Promise<PredictionView> {
    const view = await this.view(id);
    const { job } = await this.find(id);
    if (!job || (view.status !== 'queued' && view.status !== 'processing')) {
      throw new Problem(409, 'Already finished', `prediction "${id}" is ${view.status}`, {
        prediction_status: view.status,
      });
    }
    const canceledAt = new Date().toISOString();
    const canceled = await this.describe(job, 'canceled', canceledAt);
    await this.redis
      .multi()
      .hset(this.canceledKey(id), { at: canceledAt, view: JSON.stringify(canceled) })
      .expire(this.canceledKey(id), this.config.RESULT_TTL_S)
      .exec();
    // A queued job leaves the queue; one already in a batch finishes computing, but its output is withheld.
    if (view.status === 'queued') await job.remove().catch(() => undefined);
    if (job.data.webhook?.events.includes('completed')) {
      await this.webhookState.enqueue(id, job.data.webhook.url, 'completed');
    }
    return canceled;
  }

  private async describe(
    job: Job<PredictionJobData, PredictionJobResult>,
    state: JobState | 'unknown' | 'canceled',
    canceledAt?: string,
  ): Promise<PredictionView> {
    const id = job.id!;
    const status: PredictionStatus =
      state === 'canceled'
        ? 'canceled'
        : state === 'completed'
          ? 'succeeded'
          : state === 'failed'
            ? 'failed'
            : state === 'active'
              ? 'processing'
              : QUEUED_STATES.has(state)
                ? 'queued'
                : 'failed';
    const result = status === 'succeeded' ? job.returnvalue : undefined;
    const iso = (ms?: number) => (ms ? new Date(ms).toISOString() : null);
    const view: PredictionView = {
      id,
      model: job.data.model,
      version: job.data.version,
      status,
      input: { data: job.data.texts },
      output: result?.output ?? null,
      error: status === 'failed' ? job.failedReason || 'unknown failure' : null,
      created_at: new Date(job.timestamp).toISOString(),
      started_at: iso(job.processedOn),
      completed_at:
        canceledAt ?? (status === 'succeeded' || status === 'failed' ? iso(job.finishedOn) : null),
      metrics: {
        queue_time_ms: job.processedOn ? job.processedOn - job.timestamp : null,
        inference_time_ms: result ? round(result.inferenceMs) : null,
        batch_size: result?.batchSize ?? null,
      },
      urls: { get: `/v1/predictions/${id}`, cancel: `/v1/predictions/${id}/cancel` },
    };
    if (job.data.webhook) view.webhook = await this.webhookState.read(id);
    return view;
  }

  /** Fingerprint of a request body, for idempotent retries. */
  static fingerprint(body: unknown): string {
    return createHash('sha256').update(JSON.stringify(body)).digest('hex');
  }
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;
