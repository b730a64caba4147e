import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { JobReplier, replyChannel, type JobReply } from '@app/common';
import { eventually } from '../support/processes';
import { TestRedis } from '../support/redis-server';

type Data = { replyTo?: string; fail?: boolean };

describe('JobReplier: the reply goes out behind BullMQ’s record of the job, on a real Redis', () => {
  let redis: TestRedis;
  let admin: Redis;
  let subscriber: Redis;
  const replies: { reply: JobReply; state: string }[] = [];
  let queue: Queue<Data>;

  before(async () => {
    redis = await TestRedis.start();
    admin = new Redis(redis.url);
    subscriber = new Redis(redis.url);
    queue = new Queue<Data>('replier', { connection: redis.connect(), prefix: 'mf' });
    // Each reply is read with the job's state as Redis holds it at that moment.
    subscriber.on('message', (_channel: string, message: string) => {
      const reply = JSON.parse(message) as JobReply;
      void queue.getJobState(reply.id).then((state) => replies.push({ reply, state }));
    });
    await subscriber.subscribe(replyChannel('mf', 'api-1'));
  });
  after(async () => {
    await queue?.close();
    subscriber?.disconnect();
    admin?.disconnect();
    await redis?.stop();
  });

  it('publishes the recorded outcome in the finish’s round trip; nothing for a job not yet finished', async () => {
    const replier = new JobReplier(redis.connect(), 'mf');
    const early = new Map<string, Promise<number>>();
    const taken = new Map<string, Job<Data>>();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const worker: Worker<Data> = new Worker<Data>(
      'replier',
      async (job: Job<Data>) => {
        taken.set(job.id!, job);
        try {
          if (job.id === 'held') await held;
          if (job.data.fail) throw new UnrecoverableError('bad input: item 0');
          return { output: [{ label: 'Sports', score: 0.1 + 0.2 }], id: job.id };
        } finally {
          // As the worker's intake does: the processor settles, BullMQ records the job.
          early.set(job.id!, replier.followFinish(worker, job));
        }
      },
      { connection: redis.connect(), prefix: 'mf', concurrency: 4 },
    );
    try {
      // The control: while a job is active, the script finds it unrecorded and publishes nothing.
      await queue.add('p', { replyTo: 'api-1' }, { jobId: 'held' });
      await eventually('the held job active', async () =>
        (await queue.getJobState('held')) === 'active' ? true : undefined,
      );
      const heldJob = (await queue.getJob('held'))!;
      assert.equal(await replier.followFinish(worker, heldJob), -1);
      assert.equal(replies.length, 0);
      release();

      await queue.add('p', { replyTo: 'api-1' }, { jobId: 'ok' });
      await queue.add('p', { replyTo: 'api-1', fail: true }, { jobId: 'bad' });
      await queue.add('p', {}, { jobId: 'unwaited' });
      await eventually('three replies', () => (replies.length === 3 ? true : undefined));
      // The script itself published them (the finish ran before it), each heard once.
      assert.equal(await early.get('held'), 1);
      assert.equal(await early.get('ok'), 1);
      assert.equal(await early.get('bad'), 1);
      assert.equal(await early.get('unwaited'), -1);
      const byId = new Map(replies.map((r) => [r.reply.id, r]));
      assert.deepEqual(byId.get('ok'), {
        reply: {
          id: 'ok',
          outcome: {
            status: 'completed',
            value: { output: [{ label: 'Sports', score: 0.1 + 0.2 }], id: 'ok' },
          },
        },
        state: 'completed',
      });
      assert.deepEqual(byId.get('bad'), {
        reply: { id: 'bad', outcome: { status: 'failed', reason: 'bad input: item 0' } },
        state: 'failed',
      });
      assert.equal(byId.get('held')?.state, 'completed');
      // Once BullMQ reports the job finished, a job the script answered is not published again;
      // the control: one it did not answer is.
      assert.equal(await replier.finished(taken.get('ok')!), true);
      assert.equal(await replier.finished(taken.get('unwaited')!), undefined);
      const fresh = (await queue.getJob('bad'))!;
      assert.equal(await replier.finished(fresh), true);
      await eventually('the one reply published late', () =>
        replies.length === 4 ? true : undefined,
      );
      assert.deepEqual(
        replies.slice(3).map((r) => r.reply.id),
        ['bad'],
      );
    } finally {
      await worker.close();
    }
  });
});
