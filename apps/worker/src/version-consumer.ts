import { resolve } from 'node:path';
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  VersionQueues,
  WEBHOOK_QUEUE,
  bulkQueueName,
  predictionQueueName,
  webhookJobOptions,
  type Logger,
  type PredictionJobData,
  type PredictionJobResult,
  type WebhookEvent,
  type WebhookJobData,
} from '@app/common';
import { packingLimits, type HandlerError } from '@app/handler/package';
import type { VersionRecord } from '@app/registry';
import { JobGrouper } from './batching/job-grouper';
import { splitOutcome } from './batching/split-outcome';
import type { WorkerConfig } from './config';
import { InferenceClient, type GroupOutcome } from './runtime/inference-client';
import type { RuntimeReport } from './runtime/protocol';
import { runtimeLabels, type WorkerMetrics } from './worker-metrics';

/** Batcher priority of bulk chunks: online jobs (0) always go first. */
const BULK_PRIORITY = 10;

interface PendingJob {
  job: Job<PredictionJobData>;
  size: number;
  priority: number;
  resolve: (result: PredictionJobResult) => void;
  reject: (error: Error) => void;
}

/** Figures of the last group this consumer ran, for heartbeats. */
export interface LastBatch {
  size: number;
  tokens: number;
  inferenceMs: number;
}

/**
 * Serves one model version: a BullMQ worker pulls many jobs at once, a JobGrouper groups
 * them, the inference thread runs each group, and the answers are split back per job.
 */
export class VersionConsumer {
  /** Consumers of the online queue and of the bulk-chunk queue. */
  private workers: Worker<PredictionJobData, PredictionJobResult>[] = [];
  private webhooks?: Queue<WebhookJobData>;
  private queues?: VersionQueues;
  private closing?: Promise<void>;
  private readonly grouper: JobGrouper<PendingJob>;
  private activeJobs = 0;
  private readonly labels: { model: string; version: string };
  lastBatch?: LastBatch;

  private constructor(
    readonly record: VersionRecord,
    private readonly client: InferenceClient,
    private readonly config: WorkerConfig,
    private readonly logger: Logger,
    private readonly metrics: WorkerMetrics,
  ) {
    this.labels = { model: record.name, version: record.version };
    this.grouper = new JobGrouper(
      {
        maxGroupTexts: client.limits.maxBatchSize * config.GROUP_BATCHES,
        // One chunk (at most a full batch) per bulk group: online jobs wait behind little.
        maxBulkGroupTexts: 1,
        maxDelayMs: record.manifest.batching.max_batch_delay_ms,
        gapMs: config.BATCH_GAP_MS,
      },
      (group) => this.runGroup(group),
    );
  }

  /** Loads and warms the model in its thread, then starts consuming the version's queue. */
  static async start(
    record: VersionRecord,
    connection: Redis,
    config: WorkerConfig,
    logger: Logger,
    metrics: WorkerMetrics,
  ): Promise<VersionConsumer> {
    const log = logger.child({ model: record.name, version: record.version });
    const client = await InferenceClient.start(
      {
        packagePath: resolve(config.MODEL_STORE, record.location),
        device: config.DEVICE,
        intraOpNumThreads: config.INTRA_OP_THREADS,
        maxArchiveBytes: config.MAX_ARCHIVE_BYTES,
        maxArchiveEntries: config.MAX_ARCHIVE_ENTRIES,
        allowPackageCode: config.ALLOW_PACKAGE_CODE,
        batching: packingLimits(record.manifest.batching),
      },
      (message) => log.warn(message),
    );
    const consumer = new VersionConsumer(record, client, config, log, metrics);
    consumer.listen(connection);
    metrics.provider.set({ ...consumer.labels, ...runtimeLabels(client.runtime) }, 1);
    log.info({ ...client.runtime, precision: record.manifest.precision }, 'serving model version');
    return consumer;
  }

  /** Where this version's forward pass runs (`cuda` only when the CUDA provider took the graph). */
  get runtime(): RuntimeReport {
    return this.client.runtime;
  }

  /** Jobs taken from the queue and not yet answered. */
  get jobsInFlight(): number {
    return this.activeJobs;
  }

  private listen(connection: Redis): void {
    const options = { connection, prefix: this.config.KEY_PREFIX };
    this.queues = new VersionQueues(connection, this.config.KEY_PREFIX);
    if (this.config.WEBHOOKS_ENABLED) this.webhooks = this.queues.queue(WEBHOOK_QUEUE);
    const { name, version } = this.record;
    // Online jobs get many slots; bulk chunks few, so they never crowd online jobs out.
    for (const [queueName, concurrency] of [
      [predictionQueueName(name, version), this.config.WORKER_CONCURRENCY],
      [bulkQueueName(name, version), this.config.BULK_CONCURRENCY],
    ] as const) {
      const worker = new Worker<PredictionJobData, PredictionJobResult>(
        queueName,
        (job) => this.process(job),
        {
          ...options,
          concurrency,
          lockDuration: this.config.LOCK_DURATION_MS,
          stalledInterval: this.config.STALLED_INTERVAL_MS,
          maxStalledCount: this.config.MAX_STALLED_COUNT,
        },
      );
      worker.on('completed', (job) => {
        this.metrics.jobs.inc({ ...this.labels, outcome: 'completed' });
        this.announce(job, 'completed');
      });
      worker.on('failed', (job) => {
        this.metrics.jobs.inc({ ...this.labels, outcome: job?.finishedOn ? 'failed' : 'retried' });
        if (job && job.finishedOn) this.announce(job, 'completed');
      });
      worker.on('error', (error) => this.logger.error({ err: error }, 'queue worker error'));
      this.workers.push(worker);
    }
  }

  private async process(job: Job<PredictionJobData>): Promise<PredictionJobResult> {
    const texts = job.data.texts;
    if (!Array.isArray(texts) || texts.length === 0) {
      throw new UnrecoverableError('job carries no texts');
    }
    const bad = texts.findIndex((t) => typeof t !== 'string' || t.trim() === '');
    if (bad >= 0) throw new UnrecoverableError(`item ${bad} is not a non-empty string`);
    if (job.data.webhook?.events.includes('start')) this.announce(job, 'start');
    this.metrics.queueWait.observe(
      this.labels,
      Math.max(0, (job.processedOn ?? Date.now()) - job.timestamp) / 1000,
    );
    this.activeJobs++;
    try {
      return await new Promise<PredictionJobResult>((resolve, reject) => {
        this.grouper.add({
          job,
          size: texts.length,
          priority: job.data.bulk ? BULK_PRIORITY : 0,
          resolve,
          reject,
        });
      });
    } finally {
      this.activeJobs--;
    }
  }

  /** Runs a group and settles every job of it, whatever happens. */
  private async runGroup(group: PendingJob[]): Promise<void> {
    try {
      await this.answerGroup(group);
    } catch (error) {
      this.logger.error({ err: error }, 'answering a group failed');
      for (const pending of group) pending.reject(asJobError(error));
    }
  }

  /** Runs a group; if it fails as a whole, runs its jobs one by one so a bad job fails alone. */
  private async answerGroup(group: PendingJob[]): Promise<void> {
    let outcome: GroupOutcome;
    try {
      outcome = await this.client.classify(group.flatMap((p) => p.job.data.texts));
    } catch (error) {
      if (group.length === 1) return group[0].reject(asJobError(error));
      for (const pending of group) await this.answerGroup([pending]);
      return;
    }
    const { batches } = outcome;
    this.metrics.observeBatches(this.labels, batches);
    this.lastBatch = {
      size: batches.reduce((max, b) => Math.max(max, b.size), 0),
      tokens: batches.reduce((sum, b) => sum + b.paddedTokens, 0),
      inferenceMs: batches.reduce((sum, b) => sum + b.inferenceMs, 0),
    };
    const results = splitOutcome(
      outcome,
      group.map((p) => p.job.data),
      this.config.WORKER_ID,
    );
    group.forEach(({ job, resolve }, k) => {
      resolve(results[k]);
      this.logger.debug({ jobId: job.id, requestId: job.data.requestId }, 'job done');
    });
  }

  /** Enqueues a webhook delivery; the job id makes a repeated announcement a no-op. */
  private announce(job: Job<PredictionJobData>, event: WebhookEvent): void {
    const webhook = job.data.webhook;
    if (!this.webhooks || !webhook || !webhook.events.includes(event)) return;
    this.webhooks
      .add(
        event,
        { predictionId: job.id!, url: webhook.url, event },
        webhookJobOptions(
          job.id!,
          event,
          this.config.WEBHOOK_MAX_ATTEMPTS,
          this.config.WEBHOOK_BACKOFF_MS,
        ),
      )
      .catch((error) => this.logger.error({ err: error, jobId: job.id }, 'cannot enqueue webhook'));
  }

  /**
   * Keeps consuming until the queue has been empty for `quietMs`, then closes: a version being
   * unregistered answers every job that callers put on its queue before they stopped doing so.
   */
  async drainAndClose(quietMs: number, pollMs = 250): Promise<void> {
    let quietSince: number | undefined;
    while (!this.closing) {
      const backlog = await this.queues!.backlog(this.record.name, this.record.version);
      const pending = backlog.queued + backlog.active;
      const now = Date.now();
      quietSince = pending > 0 ? undefined : (quietSince ?? now);
      if (quietSince !== undefined && now - quietSince >= quietMs) break;
      await new Promise((r) => setTimeout(r, pollMs));
    }
    await this.close();
  }

  /** Stops taking jobs, lets the jobs in hand finish, then releases the model. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
    await this.queues?.close();
    await this.client.close();
    this.metrics.provider.remove({ ...this.labels, ...runtimeLabels(this.client.runtime) });
  }
}

/** A handler error that says a retry cannot help fails its job for good; any other may retry. */
function asJobError(error: unknown): Error {
  if (error instanceof Error && (error as Partial<HandlerError>).retryable === false)
    return new UnrecoverableError(error.message);
  return error instanceof Error ? error : new Error(String(error));
}
