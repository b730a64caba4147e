import { Worker, type Job } from 'bullmq';
import {
  bulkQueueName,
  predictionQueueName,
  type FinishingWorker,
  type Logger,
  type PredictionJobData,
  type PredictionJobResult,
} from '@app/common';
import type { VersionRecord } from '@app/registry';
import type { ConsumerContext } from './consumer-context';
import { closeWhenConnected } from './close-when-connected';
import { StartOnFetch } from './start-on-fetch';

/** What the intake tells its owner about jobs that BullMQ finished. */
export interface IntakeEvents {
  /** A job's processor returned or threw in `worker`: BullMQ is about to record its outcome. */
  settling(job: Job<PredictionJobData>, worker: FinishingWorker): void;
  completed(job: Job<PredictionJobData, PredictionJobResult>): void;
  /** A failed attempt: `job.finishedOn` is set when it was the last one. */
  failed(job: Job<PredictionJobData, PredictionJobResult> | undefined): void;
}

/**
 * Settles a job the intake handed back to its queue. Thrown only once the intake's BullMQ
 * workers have closed, when BullMQ no longer records a settled job's outcome: the job stays
 * where {@link JobIntake.handBack} put it, with its attempts unspent.
 */
export class JobHandedBack extends Error {
  override readonly name = 'JobHandedBack';
}

/**
 * The BullMQ side of one model version: a consumer of its online queue (many slots) and one of
 * its bulk-chunk queue (few, so chunks never crowd online jobs out), each handing jobs to
 * `process`. Opened once the model is ready; a consumer whose inference thread died hands its
 * jobs back through here and opens a new intake once a new thread is ready.
 */
export class JobIntake {
  private readonly workers: Worker<PredictionJobData, PredictionJobResult>[];
  private handingBack?: Promise<void>;

  constructor(
    { name, version }: VersionRecord,
    { connection, config, redisErrors }: ConsumerContext,
    process: (job: Job<PredictionJobData>) => Promise<PredictionJobResult>,
    private readonly logger: Logger,
    events: IntakeEvents,
  ) {
    const queues = [
      [predictionQueueName(name, version), config.WORKER_CONCURRENCY],
      [bulkQueueName(name, version), config.BULK_CONCURRENCY],
    ] as const;
    this.workers = queues.map(([queueName, concurrency]) => {
      // A lone job's work begins as its fetch answers, not one (empty) fetch later.
      const starter = new StartOnFetch(process);
      const worker: Worker<PredictionJobData, PredictionJobResult> = new Worker<
        PredictionJobData,
        PredictionJobResult
      >(
        queueName,
        async (job: Job<PredictionJobData>) => {
          try {
            return await starter.process(job);
          } finally {
            events.settling(job, worker);
          }
        },
        {
          connection,
          prefix: config.KEY_PREFIX,
          concurrency,
          lockDuration: config.LOCK_DURATION_MS,
          stalledInterval: config.STALLED_INTERVAL_MS,
          maxStalledCount: config.MAX_STALLED_COUNT,
        },
      );
      worker.on('active', (job) => starter.fetched(job));
      worker.on('completed', (job) => events.completed(job));
      worker.on('failed', (job) => events.failed(job));
      worker.on('error', (error) => redisErrors.report(error, 'queue worker error'));
      return worker;
    });
  }

  /** True once {@link handBack} began: jobs that still arrive go back too (see {@link returnLate}). */
  get closingForHandBack(): boolean {
    return this.handingBack !== undefined;
  }

  /**
   * Stops taking jobs, puts `jobs` (in hand, taken through this intake) back at the head of
   * their queues without spending an attempt, and closes the BullMQ workers without waiting for
   * jobs in hand. Their owner must then settle those jobs (with {@link JobHandedBack}).
   *
   * Why this order: a BullMQ worker that sees a processor throw `WaitingError` or `DelayedError`
   * fetches the next job at once, paused or not, so returning jobs that way while the thread is
   * down spins. A closed worker records nothing for a job that settles afterwards, so moving jobs
   * first and settling them after the close keeps `attemptsMade` and the queue as they are.
   */
  handBack(jobs: readonly Job<PredictionJobData>[]): Promise<void> {
    this.handingBack ??= (async () => {
      await Promise.all(this.workers.map((w) => w.pause(true)));
      await Promise.all(jobs.map((job) => this.returnToQueue(job)));
      await Promise.all(this.workers.map((w) => w.close(true)));
    })();
    return this.handingBack;
  }

  /**
   * For a job a fetch already under way delivered while handing back: returns it to its queue
   * too and throws {@link JobHandedBack} once the intake has closed.
   */
  async returnLate(job: Job<PredictionJobData>): Promise<never> {
    await this.returnToQueue(job);
    await this.handingBack;
    throw new JobHandedBack('handed back to the queue');
  }

  /** Stops taking jobs and waits for those in hand to finish. Idempotent. */
  async close(): Promise<void> {
    await this.handingBack;
    await Promise.all(this.workers.map(closeWhenConnected));
  }

  private async returnToQueue(job: Job<PredictionJobData>): Promise<void> {
    try {
      await job.moveToWait(job.token);
    } catch (error) {
      // Its lock was lost (Redis away past the lock): the stalled-job check returns it instead.
      this.logger.warn({ err: error, jobId: job.id }, 'cannot hand a job back');
    }
  }
}
