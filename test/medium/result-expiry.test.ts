import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { ResultExpiry } from '@app/common';
import { finishAll } from '../support/finish-jobs';
import { eventually } from '../support/processes';
import { TestRedis } from '../support/redis-server';

const PREFIX = 'mf';

/** Adds jobs through one pipeline each, marked to go `keepS` after they finish. */
async function addMarked(queue: Queue, ids: string[], keepS: number, expiry = new ResultExpiry()) {
  const pipeline = (await queue.client).pipeline();
  for (const id of ids) expiry.mark(pipeline, queue, id, keepS);
  await pipeline.exec();
  await queue.addBulk(ids.map((id) => ({ name: 'job', data: { id }, opts: { jobId: id } })));
}

/** Resolves once the clock is past `at`: a condition on the clock, not a sleep. */
const clockPast = (at: number) =>
  eventually('the clock to pass', () => (Date.now() > at ? true : undefined));

describe('ResultExpiry', () => {
  let server: TestRedis;
  let connection: Redis;

  before(async () => {
    server = await TestRedis.start();
    connection = new Redis(server.url, { maxRetriesPerRequest: null });
  });

  after(async () => {
    connection?.disconnect();
    await server?.stop();
  });

  it('removes finished jobs after their time, never a waiting one, and forgets gone ones', async () => {
    const queue = new Queue('expiry-kinds', { connection, prefix: PREFIX });
    const index = queue.toKey('mf-expiry');
    await addMarked(queue, ['done-1', 'done-2', 'fail-1'], 1);
    const lastFinished = await finishAll(queue, connection, 3);
    // Marked after the others finished, and never taken: it stays waiting.
    await addMarked(queue, ['waiting-1'], 1);
    const expiry = new ResultExpiry();
    const pipeline = (await queue.client).pipeline();
    expiry.mark(pipeline, queue, 'never-added', 1);
    await pipeline.exec();

    await clockPast(Math.max(lastFinished, await markedAt(connection, index)) + 1000);
    // Control: finished less than an hour ago, each is looked at, kept, and due again an hour
    // after it finished; the mark of a job that is gone leaves the index.
    assert.equal(await expiry.sweep(queue, 3600), 0);
    assert.equal(await queue.getJobCountByTypes('completed', 'failed'), 3);
    const done1 = (await queue.getJob('done-1'))!;
    assert.equal(Number(await connection.zscore(index, 'done-1')), done1.finishedOn! + 3600_000);
    assert.equal(await connection.zscore(index, 'never-added'), null);

    // Every mark due now: the finished jobs go, completed and failed alike; the waiting one stays.
    await connection.zadd(index, 0, 'done-1', 0, 'done-2', 0, 'fail-1', 0, 'waiting-1');
    assert.equal(await expiry.sweep(queue, 1), 3);
    assert.equal(await queue.getJobCountByTypes('completed', 'failed'), 0);
    // Its mark stays too, due a whole TTL later.
    assert.equal(await queue.getJobState('waiting-1'), 'waiting');
    assert.deepEqual(await connection.zrange(index, 0, -1), ['waiting-1']);
    await queue.close();
  });

  it('shares the work among sweeps running at once: each job removed once', async () => {
    const queue = new Queue('expiry-shared', { connection, prefix: PREFIX });
    const ids = Array.from({ length: 450 }, (_, i) => `job-${i}`);
    await addMarked(queue, ids, 1);
    const lastFinished = await finishAll(queue, connection, ids.length);
    await clockPast(lastFinished + 1000);
    // Three processes' worth: each its own connection and queue handle.
    const others = [0, 1, 2].map(() => new Redis(server.url, { maxRetriesPerRequest: null }));
    const handles = others.map((c) => new Queue(queue.name, { connection: c, prefix: PREFIX }));
    const removed = await Promise.all(handles.map((q) => new ResultExpiry().sweep(q, 1)));
    assert.equal(
      removed.reduce((a, b) => a + b, 0),
      ids.length,
    );
    assert.equal(await queue.getJobCountByTypes('completed'), 0);
    assert.equal(await connection.zcard(queue.toKey('mf-expiry')), 0);
    await Promise.all(handles.map((q) => q.close()));
    for (const c of others) c.disconnect();
    await queue.close();
  });
});

/** The latest mark's score: when the last marked job may first go. */
async function markedAt(connection: Redis, index: string): Promise<number> {
  const [, score] = await connection.zrange(index, -1, -1, 'WITHSCORES');
  return Number(score);
}
