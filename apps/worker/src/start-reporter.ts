import type { Job } from 'bullmq';
import type { PredictionJobData, QueueProgress } from '@app/common';

/**
 * Tells the queues' progress counters which jobs left their queue for work (or expired on the
 * way): each job once, at its first start, in one command per queue and group, never awaited by
 * the group it reports.
 */
export class StartReporter {
  /** Jobs reported: the parts of a coalesced job may start in different groups. */
  private readonly reported = new WeakSet<Job>();

  constructor(
    private readonly progress: QueueProgress,
    private readonly onError: (error: Error) => void,
  ) {}

  report(jobs: readonly Job<PredictionJobData>[]): void {
    const byQueue = new Map<string, { jobs: number; texts: number }>();
    for (const job of jobs) {
      // A retried or handed-back job was counted when it first started; a shadow copy was never
      // counted as added (only online jobs and batch chunks are).
      if (job.attemptsStarted > 1 || this.reported.has(job) || job.data.shadow) continue;
      this.reported.add(job);
      const counts = byQueue.get(job.queueName) ?? { jobs: 0, texts: 0 };
      counts.jobs += 1;
      counts.texts += job.data.texts?.length ?? 0;
      byQueue.set(job.queueName, counts);
    }
    for (const [name, counts] of byQueue) {
      this.progress.started(name, counts.jobs, counts.texts).catch(this.onError);
    }
  }
}
