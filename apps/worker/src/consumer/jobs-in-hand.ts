import type { Job } from 'bullmq';
import type { PredictionJobData, PredictionJobResult } from '@app/common';
import type { PendingJob } from '../batching/group-runner';
import type { JobGrouper } from '../batching/job-grouper';
import type { ThroughputMeter } from '../throughput-meter';
import type { JobEvents } from './job-events';
import { JobHandedBack, type JobIntake } from './job-intake';
import { joinParts, partsOf } from './job-parts';

/** Grouper priority of jobs of the bulk queue (chunks, shadow copies): online jobs (0) go first. */
const BULK_PRIORITY = 10;

/**
 * The jobs a consumer took from its queues and has not settled. Each part of a job (see
 * {@link partsOf}) is grouped, run and, when its group fails, retried on its own, as a job would
 * be; the job settles once every part has. While any is in hand, the version counts as busy for
 * its throughput.
 */
export class JobsInHand {
  private readonly pending = new Set<PendingJob>();

  constructor(
    private readonly grouper: JobGrouper<PendingJob>,
    private readonly events: JobEvents,
    private readonly throughput: ThroughputMeter,
    /** The version's bulk queue: its jobs go behind online ones. */
    private readonly bulkQueue: string,
  ) {}

  /** Jobs (parts of jobs) in hand. */
  get size(): number {
    return this.pending.size;
  }

  /** Takes a job into work and resolves with its result once every part has settled. */
  async take(job: Job<PredictionJobData>): Promise<PredictionJobResult> {
    const parts = partsOf(job.data);
    // A coalesced job's deadline is its latest part's: past it, every part has expired.
    if (job.data.deadline !== undefined && job.data.deadline <= Date.now())
      throw this.events.expired(job);
    this.events.started(job);
    const { texts, probabilities } = job.data;
    let offset = 0;
    const settled = await Promise.allSettled(
      parts.map(({ count, requestId, deadline }) => {
        const share = texts.slice(offset, (offset += count));
        return new Promise<PredictionJobResult>((resolve, reject) => {
          const settle = () => {
            this.pending.delete(pending);
            if (this.pending.size === 0) this.throughput.setBusy(false);
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
          this.pending.add(pending);
          this.throughput.setBusy(true);
          this.grouper.add(pending);
        });
      }),
    );
    return joinParts(settled, parts);
  }

  /**
   * Hands every job in hand back to its queue through `intake`, unspent, and settles them with
   * {@link JobHandedBack}; returns how many parts were in hand.
   */
  async handBack(intake: JobIntake): Promise<number> {
    this.grouper.clear();
    const parts = [...this.pending];
    await intake.handBack([...new Set(parts.map((p) => p.job))]);
    for (const pending of parts) pending.reject(new JobHandedBack('handed back to the queue'));
    return parts.length;
  }
}

/** A wall-clock deadline on the grouper's clock (monotonic, `performance.now()`). */
function onGrouperClock(deadline: number | undefined): number | undefined {
  return deadline === undefined ? undefined : performance.now() + (deadline - Date.now());
}
