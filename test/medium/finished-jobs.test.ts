import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { ResultExpiry, dropEmptyQueue, trimFinished } from '@app/common';
import { finishAll } from '../support/finish-jobs';
import { eventually } from '../support/processes';
import { TestRedis } from '../support/redis-server';

const PREFIX = 'mf';

describe('finished jobs of a queue nothing finishes in any more', () => {
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

  it('are removed past the age they carry, which BullMQ alone never does', async () => {
    const queue = new Queue('quiet', { connection, prefix: PREFIX });
    const kept = { removeOnComplete: { age: 1 }, removeOnFail: { age: 1 } };
    await queue.add('job', {}, { jobId: 'done-1', ...kept });
    await queue.add('job', {}, { jobId: 'fail-1', ...kept });
    const lastFinished = await finishAll(queue, connection, 2);
    await eventually('the clock to pass their age', () =>
      Date.now() > lastFinished + 1000 ? true : undefined,
    );
    // Control: past their age, and nothing finished after them, BullMQ kept both.
    assert.equal(await queue.getJobCountByTypes('completed', 'failed'), 2);
    // Younger than an hour: kept, and the queue's event stream left as it was.
    const events = await connection.xlen(queue.toKey('events'));
    assert.equal(await trimFinished(queue, 3600), 0);
    assert.equal(await connection.xlen(queue.toKey('events')), events);
    assert.equal(await trimFinished(queue, 1), 2);
    assert.equal(await queue.getJobCountByTypes('completed', 'failed'), 0);
    await queue.close();
  });

  it("a queue's keys go once it holds no job, and not while one is there", async () => {
    const queue = new Queue('retired', { connection, prefix: PREFIX });
    const pipeline = connection.pipeline();
    new ResultExpiry().mark(pipeline, queue, 'waiting-1', 1);
    await pipeline.exec();
    await queue.add('job', {}, { jobId: 'waiting-1' });
    const keys = () => connection.keys(`${PREFIX}:retired:*`);
    const before = await keys();
    assert.ok(before.includes(queue.toKey('mf-expiry')), before.join());
    // Control: a job waits, so nothing goes.
    assert.equal(await dropEmptyQueue(queue), false);
    assert.deepEqual((await keys()).sort(), before.sort());
    await queue.remove('waiting-1');
    assert.equal(await dropEmptyQueue(queue), true);
    assert.deepEqual(await keys(), []);
    // A sweep of the queue gone writes nothing (BullMQ's clean alone would add an event).
    assert.equal(await trimFinished(queue, 1), 0);
    assert.deepEqual(await keys(), []);
    await queue.close();
  });
});
