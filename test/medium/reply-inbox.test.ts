import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { connectRedis, replyChannel, ReplyInbox, type JobOutcome } from '@app/common';
import { eventually } from '../support/processes';
import { TestRedis } from '../support/redis-server';

describe('ReplyInbox on a real Redis', () => {
  let redis: TestRedis;
  let admin: Redis;

  before(async () => {
    redis = await TestRedis.start();
    admin = new Redis(redis.url);
  });
  after(async () => {
    admin?.disconnect();
    await redis?.stop();
  });

  it('has its callers read their jobs again after its subscription was cut, then hears replies again', async () => {
    const connection = connectRedis(redis.url);
    const read: boolean[] = [];
    const inbox = new ReplyInbox(connection, 'mf', (awaited) => read.push(awaited));
    await inbox.open();
    try {
      let rechecks = 0;
      const answers: JobOutcome[] = [];
      const stop = inbox.expect('job-1', {
        answer: (outcome) => answers.push(outcome),
        recheck: () => rechecks++,
      });
      const reply = { id: 'job-1', outcome: { status: 'completed', value: 42 } };
      const channel = replyChannel('mf', inbox.address);
      assert.equal(await admin.publish(channel, JSON.stringify(reply)), 1);
      await eventually('the reply', () => (answers.length === 1 ? true : undefined));
      assert.equal(rechecks, 0, 'the control: no re-read while the subscription holds');
      assert.equal(Number(await admin.client('KILL', 'TYPE', 'pubsub')), 1);
      await eventually('a re-read after the reconnect', () => (rechecks > 0 ? true : undefined));
      await eventually('the channel subscribed again', async () =>
        (await admin.publish(channel, JSON.stringify(reply))) === 1 ? true : undefined,
      );
      await eventually('the reply after the reconnect', () =>
        answers.length === 2 ? true : undefined,
      );
      stop();
      // A reply for nobody (the caller stopped waiting) is read, counted and dropped.
      await admin.publish(channel, JSON.stringify(reply));
      await eventually('the unawaited reply', () => (read.length === 3 ? true : undefined));
      assert.deepEqual(read, [true, true, false]);
      assert.deepEqual(answers, [reply.outcome, reply.outcome]);
    } finally {
      await inbox.close();
      await connection.quit();
    }
  });
});
