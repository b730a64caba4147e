import type { Job } from 'bullmq';

/**
 * Begins a job's work the moment a BullMQ worker's fetch hands the job over (the worker's
 * `active` event) instead of when the worker calls its processor. A worker of concurrency above
 * one that took a job from an idle queue fetches again before it calls the processor of the job
 * it holds: its main loop awaits its fetches one after another, and only the next, empty, answer
 * lets it start the first job. A lone job would wait that extra round trip to Redis before its
 * work began. The processor then awaits the work already under way. A job that no fetch handed
 * over (BullMQ takes the next job in the previous one's finish, without `active`) begins in the
 * processor, as before.
 *
 * What the processor returns or throws is the work's own outcome; a failure before the
 * processor is called is held for it, never reported as unhandled.
 */
export class StartOnFetch<Data, Result> {
  private readonly begun = new WeakMap<Job<Data>, Promise<Result>>();

  constructor(private readonly work: (job: Job<Data>) => Promise<Result>) {}

  /** For the worker's `active` event: begins `job`'s work now. */
  fetched(job: Job<Data>): void {
    this.begin(job).catch(() => undefined);
  }

  /** The worker's processor: `job`'s work, begun now unless its fetch began it. */
  async process(job: Job<Data>): Promise<Result> {
    try {
      return await this.begin(job);
    } finally {
      this.begun.delete(job);
    }
  }

  private begin(job: Job<Data>): Promise<Result> {
    let work = this.begun.get(job);
    if (!work) {
      work = this.work(job);
      this.begun.set(job, work);
    }
    return work;
  }
}
