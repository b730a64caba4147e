import { resolve } from 'node:path';
import { UnrecoverableError, type Job } from 'bullmq';
import {
  BATCH_QUEUE,
  DEADLINE_EXCEEDED,
  QueueProgress,
  SHADOW_QUEUE,
  VersionQueues,
  WEBHOOK_QUEUE,
  bulkQueueName,
  type JobPart,
  type Logger,
  type PredictionJobData,
  type PredictionJobResult,
  type ShadowComparisonData,
  type WebhookJobData,
  type RedisConnection,
  type RedisOutageLog,
} from '@app/common';
import { packingLimits, type PackingLimits } from '@app/handler/package';
import type { VersionRecord } from '@app/registry';
import { GroupRunner, type LastBatch, type PendingJob } from './batching/group-runner';
import { JobGrouper } from './batching/job-grouper';
import { joinProvenance } from './batching/split-outcome';
import { ResultCache } from './batching/result-cache';
import { BatchRelay, type BatchJobData } from './batch-relay';
import type { WorkerConfig } from './config';
import type { DeathWindow } from './faults/death-window';
import { JobHandedBack, JobIntake } from './job-intake';
import { InferenceClient } from './runtime/inference-client';
import { ThreadRecovery } from './runtime/thread-recovery';
import { StartReporter } from './start-reporter';
import { ThroughputMeter } from './throughput-meter';
import { ShadowAnnouncer } from './shadow-announcer';
import { WebhookAnnouncer } from './webhook-announcer';
import type { RuntimeReport } from './runtime/protocol';
import { runtimeLabels, type WorkerMetrics } from './worker-metrics';

/** Batcher priority of jobs of the bulk queue (chunks, shadow copies): online jobs (0) go first. */
const BULK_PRIORITY = 10;

/** What every consumer of a worker process shares, and what it tells the process. */
export interface ConsumerContext {
  connection: RedisConnection;
  config: WorkerConfig;
  logger: Logger;
  metrics: WorkerMetrics;
  /** Where errors of Redis connections go (an outage is logged once). */
  redisErrors: RedisOutageLog;
  /** Thread deaths of the whole process: past its limit, the process exits. */
  deaths: DeathWindow;
  /** The consumer stopped or resumed serving (its thread died, or is back): heartbeat now. */
  servingChanged(): void;
  /** Threads died too often: the process should stop and exit non-zero. */
  fatal(error: Error): void;
}

/**
 * Serves one model version: its JobIntake takes many jobs at once, a JobGrouper groups them,
 * the inference thread runs each group, and the answers are split back per job. When the thread
 * dies, the consumer stops serving, hands its jobs back and restarts the thread (see
 * {@link ThreadRecovery}).
 */
export class VersionConsumer {
  private client!: InferenceClient;
  private intake!: JobIntake;
  private relay!: BatchRelay;
  private readonly queues: VersionQueues;
  private readonly webhooks: WebhookAnnouncer;
  private readonly shadows: ShadowAnnouncer;
  private readonly grouper: JobGrouper<PendingJob>;
  private readonly recovery: ThreadRecovery;
  /** Jobs taken from the queue and not yet settled. */
  private readonly inHand = new Set<PendingJob>();
  private closing?: Promise<void>;
  private stopping = false;
  private readonly labels: { model: string; version: string };
  private readonly bulkQueue: string;
  private readonly log: Logger;
  /** Texts per second while busy (see ThroughputMeter). */
  readonly throughput = new ThroughputMeter();
  private readonly runner: GroupRunner;
  private readonly starts: StartReporter;

  private constructor(
    readonly record: VersionRecord,
    private readonly context: ConsumerContext,
  ) {
    const { config } = context;
    this.labels = { model: record.name, version: record.version };
    this.bulkQueue = bulkQueueName(record.name, record.version);
    this.log = context.logger.child(this.labels);
    this.queues = new VersionQueues(context.connection, config.KEY_PREFIX, (error) =>
      context.redisErrors.report(error, 'queue error'),
    );
    this.webhooks = new WebhookAnnouncer(
      config.WEBHOOKS_ENABLED ? this.queues.queue<WebhookJobData>(WEBHOOK_QUEUE) : undefined,
      config,
      this.log,
    );
    this.shadows = new ShadowAnnouncer(
      this.queues.queue<ShadowComparisonData>(SHADOW_QUEUE),
      this.log,
    );
    this.runner = new GroupRunner(
      () => this.client,
      this.labels,
      config.WORKER_ID,
      context.metrics,
      this.throughput,
      this.log,
      {
        origin: () => ({
          model: record.name,
          version: record.version,
          package_sha256: record.packageSha256 ?? null,
          provider: this.client.runtime.provider,
          precision: record.manifest.precision,
        }),
        cache: record.cacheTtlS
          ? new ResultCache(
              context.connection,
              config.KEY_PREFIX,
              record,
              record.cacheTtlS,
              this.log,
            )
          : undefined,
      },
    );
    this.starts = new StartReporter(
      new QueueProgress(context.connection, config.KEY_PREFIX),
      (error) => context.redisErrors.report(error, 'queue progress error'),
    );
    this.grouper = new JobGrouper(
      {
        maxGroupTexts: this.limits.maxBatchSize * config.GROUP_BATCHES,
        // At most one batch of bulk work per group (a chunk goes alone), and small bulk jobs
        // (shadow copies) still share a forward pass; the thread runs a bulk group a pass at a
        // time behind online groups.
        maxBulkGroupTexts: this.limits.maxBatchSize,
        maxDelayMs: record.manifest.batching.max_batch_delay_ms,
        gapMs: config.BATCH_GAP_MS,
      },
      (group) => {
        this.starts.report(group.map((p) => p.job));
        return this.runner.run(group);
      },
      undefined,
      (late) => late.forEach((pending) => pending.reject(this.expire(pending.job))),
    );
    this.recovery = new ThreadRecovery(this.labels, context, this.log, {
      handBack: () => this.handBack(),
      restart: () => this.startThread(),
      resume: (client) => this.resume(client),
      closing: () => this.stopping,
    });
  }

  /** Loads and warms the model in its thread, then starts consuming the version's queues. */
  static async start(record: VersionRecord, context: ConsumerContext): Promise<VersionConsumer> {
    const consumer = new VersionConsumer(record, context);
    let client: InferenceClient;
    try {
      client = await consumer.startThread();
    } catch (error) {
      await consumer.queues.close();
      throw error;
    }
    consumer.resume(client);
    consumer.relay = new BatchRelay(
      record,
      context,
      consumer.queues.queue<BatchJobData>(BATCH_QUEUE),
    );
    consumer.log.info(
      { ...client.runtime, precision: record.manifest.precision },
      'serving model version',
    );
    return consumer;
  }

  /** Where this version's forward pass runs (`cuda` only when the CUDA provider took the graph). */
  get runtime(): RuntimeReport {
    return this.client.runtime;
  }

  /** Jobs taken from the queue and not yet answered. */
  get jobsInFlight(): number {
    return this.inHand.size;
  }

  /** Figures of the last group it ran. */
  get lastBatch(): LastBatch | undefined {
    return this.runner.lastBatch;
  }

  /** Undefined while serving; else why not (its inference thread is being restarted). */
  get down(): string | undefined {
    return this.recovery.down;
  }

  private get limits(): PackingLimits {
    return packingLimits(this.record.manifest.batching);
  }

  private startThread(): Promise<InferenceClient> {
    const { config } = this.context;
    return InferenceClient.start(
      {
        packagePath: resolve(config.MODEL_STORE, this.record.location),
        device: config.DEVICE,
        intraOpNumThreads: config.INTRA_OP_THREADS,
        maxArchiveBytes: config.MAX_ARCHIVE_BYTES,
        maxArchiveEntries: config.MAX_ARCHIVE_ENTRIES,
        allowPackageCode: config.ALLOW_PACKAGE_CODE,
        batching: this.limits,
        bulkPassMs: config.BULK_PASS_MS,
      },
      (message) => this.log.warn(message),
      (error) => this.recovery.threadDied(error),
    );
  }

  /** Takes `client` as the thread and opens a new intake on the version's queues. */
  private resume(client: InferenceClient): void {
    this.client = client;
    this.context.metrics.provider.set({ ...this.labels, ...runtimeLabels(client.runtime) }, 1);
    const count = (outcome: string) => this.context.metrics.jobs.inc({ ...this.labels, outcome });
    this.intake = new JobIntake(this.record, this.context, (job) => this.process(job), this.log, {
      completed: (job) => {
        count('completed');
        this.webhooks.announce(job, 'completed');
        this.shadows.announce(job);
      },
      failed: (job) => {
        count(job?.finishedOn ? 'failed' : 'retried');
        if (!job?.finishedOn) return;
        this.webhooks.announce(job, 'completed');
        this.shadows.announce(job);
      },
    });
  }

  /** Hands every job in hand back to its queue, unspent, and stops taking jobs. */
  private async handBack(): Promise<number> {
    this.grouper.clear();
    const jobs = [...this.inHand];
    await this.intake.handBack([...new Set(jobs.map((p) => p.job))]);
    for (const pending of jobs) pending.reject(new JobHandedBack('handed back to the queue'));
    return jobs.length;
  }

  private async process(job: Job<PredictionJobData>): Promise<PredictionJobResult> {
    if (this.intake.closingForHandBack) return this.intake.returnLate(job);
    const { texts, probabilities } = job.data;
    if (!Array.isArray(texts) || texts.length === 0) {
      throw new UnrecoverableError('job carries no texts');
    }
    const bad = texts.findIndex((t) => typeof t !== 'string' || t.trim() === '');
    if (bad >= 0) throw new UnrecoverableError(`item ${bad} is not a non-empty string`);
    const parts = job.data.parts ?? [
      { count: texts.length, requestId: job.data.requestId, deadline: job.data.deadline },
    ];
    if (
      parts.reduce((sum, p) => sum + p.count, 0) !== texts.length ||
      parts.some((p) => !(p.count > 0))
    )
      throw new UnrecoverableError('job parts do not add up to its texts');
    // A coalesced job's deadline is its latest part's: past it, every part has expired.
    if (job.data.deadline !== undefined && job.data.deadline <= Date.now()) throw this.expire(job);
    if (job.data.webhook?.events.includes('start')) this.webhooks.announce(job, 'start');
    this.context.metrics.queueWait.observe(
      this.labels,
      Math.max(0, (job.processedOn ?? Date.now()) - job.timestamp) / 1000,
    );
    // Each part is grouped, run and (when a group fails) retried on its own, as a job would be.
    let offset = 0;
    const settled = await Promise.allSettled(
      parts.map(({ count, requestId, deadline }) => {
        const share = texts.slice(offset, (offset += count));
        return new Promise<PredictionJobResult>((resolve, reject) => {
          const settle = () => {
            this.inHand.delete(pending);
            if (this.inHand.size === 0) this.throughput.setBusy(false);
          };
          const pending: PendingJob = {
            job,
            texts: share,
            probabilities,
            requestId,
            size: count,
            priority: job.queueName === this.bulkQueue ? BULK_PRIORITY : 0,
            deadline: onGrouperClock(deadline),
            resolve: (result) => (settle(), resolve(result)),
            reject: (error) => (settle(), reject(error)),
          };
          this.inHand.add(pending);
          this.throughput.setBusy(true);
          this.grouper.add(pending);
        });
      }),
    );
    return joinParts(settled, parts);
  }

  /** Counts a job that missed its deadline; the error fails it for good. */
  private expire(job: Job<PredictionJobData>): UnrecoverableError {
    this.context.metrics.expired.inc(this.labels);
    this.starts.report([job]);
    this.log.debug({ jobId: job.id, requestId: job.data.requestId }, 'job missed its deadline');
    return new UnrecoverableError(DEADLINE_EXCEEDED);
  }

  /**
   * Keeps consuming until the queue has been empty for `quietMs`, then closes: a version being
   * unregistered answers every job that callers put on its queue before they stopped doing so.
   */
  async drainAndClose(quietMs: number, pollMs = 250): Promise<void> {
    let quietSince: number | undefined;
    while (!this.closing) {
      const backlog = await this.queues.backlog(this.record.name, this.record.version);
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
    this.stopping = true;
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    await this.recovery.stop();
    await Promise.all([this.intake.close(), this.relay.close()]);
    await this.queues.close();
    await this.client.close();
    this.context.metrics.provider.remove({ ...this.labels, ...runtimeLabels(this.client.runtime) });
  }
}

/** A wall-clock deadline on the grouper's clock (monotonic, `performance.now()`). */
function onGrouperClock(deadline: number | undefined): number | undefined {
  return deadline === undefined ? undefined : performance.now() + (deadline - Date.now());
}

/**
 * A job's result from its parts' outcomes. A part handed back hands the job back; when every
 * part failed the job fails (and may be retried) with the first reason; otherwise it completes,
 * and each failed part carries its reason and null outputs.
 */
function joinParts(
  settled: PromiseSettledResult<PredictionJobResult>[],
  parts: readonly JobPart[],
): PredictionJobResult {
  const errors = settled.map((s) => (s.status === 'rejected' ? (s.reason as Error) : undefined));
  const handedBack = errors.find((e) => e instanceof JobHandedBack);
  if (handedBack) throw handedBack;
  if (errors.every(Boolean)) throw errors[0]!;
  if (settled.length === 1)
    return (settled[0] as PromiseFulfilledResult<PredictionJobResult>).value;
  const answered = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  return {
    output: settled.flatMap((s, k) =>
      s.status === 'fulfilled' ? s.value.output : new Array<null>(parts[k].count).fill(null),
    ),
    inferenceMs: Math.max(...answered.map((r) => r.inferenceMs)),
    batchSize: Math.max(...answered.map((r) => r.batchSize)),
    worker: answered[0].worker,
    ...(errors.some(Boolean) ? { partErrors: errors.map((e) => e?.message ?? null) } : {}),
    ...joinProvenance(
      settled.map((s) => (s.status === 'fulfilled' ? s.value : undefined)),
      parts.map((p) => p.count),
    ),
  };
}
