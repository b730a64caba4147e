import type { Job } from 'bullmq';
import type { Logger, PredictionJobData, PredictionJobResult, VersionQueues } from '@app/common';
import type { VersionRecord } from '@app/registry';
import type { GroupRunner, LastBatch } from '../batching/group-runner';
import type { InferencePool } from '../runtime/inference-pool';
import type { RuntimeReport } from '../runtime/protocol';
import type { ThreadRecovery } from '../runtime/thread-recovery';
import type { ThroughputMeter } from '../throughput-meter';
import { runtimeLabels, type WorkerMetrics } from '../worker-metrics';
import type { BatchRelay } from './batch-relay';
import type { JobIntake } from './job-intake';
import type { JobsInHand } from './jobs-in-hand';
import type { VersionThread } from './version-thread';

/** What a consumer works with, built for it in one place (see startVersionConsumer). */
export interface ConsumerParts {
  /** Handles on the version's queues and those it announces to; closed with the consumer. */
  queues: VersionQueues;
  thread: VersionThread;
  recovery: ThreadRecovery;
  inHand: JobsInHand;
  runner: GroupRunner;
  /** Texts per second while busy (see ThroughputMeter). */
  throughput: ThroughputMeter;
  metrics: WorkerMetrics;
  /** Opens an intake on the version's queues that hands each job to `process`. */
  openIntake(process: (job: Job<PredictionJobData>) => Promise<PredictionJobResult>): JobIntake;
  /** Starts handing the version's finished batches on. */
  openRelay(): BatchRelay;
  log: Logger;
}

/**
 * Serves one model version: its JobIntake takes many jobs at once, a JobGrouper groups them,
 * the inference thread runs each group, and the answers are split back per job. When the thread
 * dies, the consumer stops serving, hands its jobs back and restarts the thread (see
 * {@link ThreadRecovery}).
 */
export class VersionConsumer {
  private intake!: JobIntake;
  private relay?: BatchRelay;
  private closing?: Promise<void>;
  private stopping = false;
  private readonly labels: { model: string; version: string };

  constructor(
    readonly record: VersionRecord,
    private readonly parts: ConsumerParts,
  ) {
    this.labels = { model: record.name, version: record.version };
  }

  /** Loads and warms the model in its thread, then starts consuming the version's queues. */
  async open(): Promise<void> {
    const { thread, queues, log } = this.parts;
    let client: InferencePool;
    try {
      client = await thread.start();
    } catch (error) {
      await queues.close();
      throw error;
    }
    this.resume(client);
    this.relay = this.parts.openRelay();
    log.info(
      { ...client.runtime, precision: this.record.manifest.precision },
      'serving model version',
    );
  }

  /** Where this version's forward pass runs (`cuda` only when the CUDA provider took the graph). */
  get runtime(): RuntimeReport {
    return this.parts.thread.client.runtime;
  }

  /** Texts per second while busy (see ThroughputMeter). */
  get throughput(): ThroughputMeter {
    return this.parts.throughput;
  }

  /** Jobs taken from the queue and not yet answered. */
  get jobsInFlight(): number {
    return this.parts.inHand.size;
  }

  /** Figures of the last group it ran. */
  get lastBatch(): LastBatch | undefined {
    return this.parts.runner.lastBatch;
  }

  /** Undefined while serving; else why not (its inference thread is being restarted). */
  get down(): string | undefined {
    return this.parts.recovery.down;
  }

  /** True once it was told to close: a thread recovery then stops where it is. */
  get closed(): boolean {
    return this.stopping;
  }

  /** Takes `client` as the thread and opens a new intake on the version's queues. */
  resume(client: InferencePool): void {
    this.parts.thread.use(client);
    this.parts.metrics.provider.set({ ...this.labels, ...runtimeLabels(client.runtime) }, 1);
    this.intake = this.parts.openIntake((job) =>
      // A job a fetch under way delivered while handing back goes back too.
      this.intake.closingForHandBack ? this.intake.returnLate(job) : this.parts.inHand.take(job),
    );
  }

  /** Hands every job in hand back to its queue, unspent, and stops taking jobs. */
  handBack(): Promise<number> {
    return this.parts.inHand.handBack(this.intake);
  }

  /**
   * Keeps consuming until the queue has been empty for `quietMs`, then closes: a version being
   * unregistered answers every job that callers put on its queue before they stopped doing so.
   */
  async drainAndClose(quietMs: number, pollMs = 250): Promise<void> {
    let quietSince: number | undefined;
    while (!this.closing) {
      const backlog = await this.parts.queues.backlog(this.record.name, this.record.version);
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
    const { recovery, queues, thread, metrics } = this.parts;
    await recovery.stop();
    await Promise.all([this.intake.close(), this.relay?.close()]);
    await queues.close();
    await thread.client.close();
    metrics.provider.remove({ ...this.labels, ...runtimeLabels(thread.client.runtime) });
  }
}
