import { Worker, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { eventually } from './processes';

/**
 * Runs the queue's `count` waiting jobs to their end (those whose id starts with `fail-` fail),
 * then stops its worker; resolves with the last finish time.
 */
export async function finishAll(queue: Queue, connection: Redis, count: number): Promise<number> {
  const worker = new Worker(
    queue.name,
    async (job) => {
      if (String(job.id).startsWith('fail-')) throw new Error('failed on purpose');
      return 'done';
    },
    { connection, prefix: queue.opts.prefix, concurrency: 50 },
  );
  await eventually('every job to finish', async () => {
    const counts = await queue.getJobCounts('completed', 'failed');
    return counts.completed + counts.failed === count ? true : undefined;
  });
  await worker.close();
  const finished = await queue.getJobs(['completed', 'failed'], 0, -1);
  return Math.max(...finished.map((job) => job.finishedOn!));
}
