import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Queue, QueueEvents, Worker, type Job } from 'bullmq';
import { StartOnFetch } from '../../apps/worker/src/consumer/start-on-fetch';
import { TestRedis } from '../support/redis-server';

type Data = { fail?: boolean };

describe('StartOnFetch: a job’s work begins as its fetch answers, on a real BullMQ worker', () => {
  let redis: TestRedis;
  // A failure held for the processor must never surface as an unhandled rejection.
  const unhandled: unknown[] = [];
  const listener = (reason: unknown) => unhandled.push(reason);
  const closers: { close(): Promise<unknown> }[] = [];

  before(async () => {
    redis = await TestRedis.start();
    process.on('unhandledRejection', listener);
  });
  after(async () => {
    process.off('unhandledRejection', listener);
    for (const closer of closers.reverse()) await closer.close();
    await redis?.stop();
  });

  /**
   * A worker on queue `name` whose processor runs `work` (through StartOnFetch when `early`),
   * and, for each job, whether its work had begun when the worker reported it active.
   */
  const consume = (name: string, early: boolean, concurrency: number) => {
    const runs = new Map<string, number>();
    const begunAtActive = new Map<string, boolean>();
    const work = async (job: Job<Data>) => {
      runs.set(job.id!, (runs.get(job.id!) ?? 0) + 1);
      await new Promise((resolve) => setImmediate(resolve));
      if (job.data.fail) throw new Error(`job ${job.id} failed in its work`);
      return `answer of ${job.id}`;
    };
    const starter = new StartOnFetch(work);
    const worker = new Worker<Data>(name, early ? (job) => starter.process(job) : work, {
      connection: redis.connect(),
      prefix: 'mf',
      concurrency,
    });
    if (early) worker.on('active', (job) => starter.fetched(job));
    // Registered after StartOnFetch's listener: sees what it did.
    worker.on('active', (job) => begunAtActive.set(job.id!, runs.has(job.id!)));
    closers.push(worker);
    return { runs, begunAtActive };
  };

  const queueOf = async (name: string) => {
    const queue = new Queue<Data>(name, { connection: redis.connect(), prefix: 'mf' });
    const events = new QueueEvents(name, { connection: redis.connect(), prefix: 'mf' });
    closers.push(queue, events);
    await events.waitUntilReady();
    return { queue, events };
  };

  it('begins a lone job on its fetch; the control (a plain worker) only once its processor is called', async () => {
    for (const early of [true, false]) {
      const name = early ? 'early' : 'plain';
      const { queue, events } = await queueOf(name);
      const { runs, begunAtActive } = consume(name, early, 8);
      const job = await queue.add('p', {}, { jobId: 'lone' });
      assert.equal(await job.waitUntilFinished(events), 'answer of lone');
      assert.equal(runs.get('lone'), 1, 'the work runs once');
      assert.equal(begunAtActive.get('lone'), early);
      // Its work fails while BullMQ's next fetch is still out: the job fails with its reason.
      const bad = await queue.add('p', { fail: true }, { jobId: 'lone-bad' });
      await assert.rejects(bad.waitUntilFinished(events), /job lone-bad failed in its work/);
      assert.equal(runs.get('lone-bad'), 1);
      assert.equal(begunAtActive.get('lone-bad'), early);
    }
    assert.deepEqual(unhandled, []);
  });

  it('runs every job once, whether a fetch or the previous finish took it, and fails one whose work throws', async () => {
    const { queue, events } = await queueOf('mixed');
    // Queued before the worker starts: with concurrency 1, BullMQ's finish of each job takes
    // the next (no `active` for it), so both ways a job reaches the processor are used.
    const jobs = await queue.addBulk(
      ['a', 'b', 'c', 'd'].map((id) => ({
        name: 'p',
        data: { fail: id === 'c' },
        opts: { jobId: id },
      })),
    );
    const { runs, begunAtActive } = consume('mixed', true, 1);
    const outcomes = await Promise.allSettled(jobs.map((job) => job.waitUntilFinished(events)));
    assert.deepEqual(
      outcomes.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message)),
      ['answer of a', 'answer of b', 'job c failed in its work', 'answer of d'],
    );
    assert.deepEqual([...runs.values()], [1, 1, 1, 1]);
    assert.ok(begunAtActive.size >= 1 && begunAtActive.size < 4, 'some jobs came without a fetch');
    assert.ok([...begunAtActive.values()].every(Boolean));
    assert.equal((await queue.getJob('c'))?.failedReason, 'job c failed in its work');
    assert.deepEqual(unhandled, []);
  });
});
