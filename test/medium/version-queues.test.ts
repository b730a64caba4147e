import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { FlowProducer } from 'bullmq';
import {
  LocalRedis,
  VersionQueues,
  connectRedisFailFast,
  isRedisUnavailable,
  redisReady,
  type RedisConnection,
} from '@app/common';
import { track, untrack } from '../support/children';

async function startRedis(pickPort?: () => Promise<number>): Promise<LocalRedis> {
  const server = await LocalRedis.start(undefined, pickPort);
  track(server.pid);
  return server;
}

async function stopRedis(server: LocalRedis): Promise<void> {
  await server.stop();
  untrack(server.pid);
}

/**
 * Queue handles on the API's request connection, which fails at once while Redis is away: a
 * call on a queue fails then, even on a handle first made during the outage (such a handle
 * waited for Redis to come back, and its caller with it), and works again once Redis is back.
 */
describe('VersionQueues on a fail-fast connection', () => {
  let server: LocalRedis | undefined;
  let connection: RedisConnection | undefined;
  after(async () => {
    connection?.disconnect();
    if (server) await stopRedis(server);
  });

  it(
    'fails calls at once while Redis is away, on new handles too, and recovers',
    { timeout: 60_000 },
    async () => {
      server = await startRedis();
      const port = server.port;
      connection = connectRedisFailFast({ url: server.url }, 1000);
      connection.on('error', () => undefined);
      await redisReady(connection, () => undefined);
      const queues = new VersionQueues(connection, 'mf');
      // The control: a handle made while Redis is up answers.
      assert.equal((await queues.backlog('known', '1')).queued, 0);

      await stopRedis(server);
      server = undefined;
      for (const model of ['known', 'new-while-away']) {
        await assert.rejects(
          queues.backlog(model, '1'),
          (error) => isRedisUnavailable(error),
          model,
        );
      }

      // Back on the same port: the handle made during the outage was dropped, not kept broken.
      server = await startRedis(async () => port);
      await redisReady(connection, () => undefined);
      for (const model of ['known', 'new-while-away']) {
        assert.equal((await queues.backlog(model, '1')).queued, 0, model);
      }
      await queues.close();
    },
  );
});

/**
 * The flow producer (batch uploads) on the same connection: BullMQ reads the server's version
 * when a handle starts, and on a fail-fast connection a Redis that answers late (a loaded
 * machine, a stall while the API starts) fails that read. A handle kept whatever happened fails
 * every later call at once ("Command timed out" for good); this one is made anew.
 */
describe('VersionQueues.flows on a fail-fast connection', () => {
  let server: LocalRedis | undefined;
  let connection: RedisConnection | undefined;
  after(async () => {
    if (server) process.kill(server.pid, 'SIGCONT');
    connection?.disconnect();
    if (server) await stopRedis(server);
  });

  it('makes a new producer after one whose start timed out', { timeout: 60_000 }, async () => {
    server = await startRedis();
    connection = connectRedisFailFast({ url: server.url }, 300);
    connection.on('error', () => undefined);
    await redisReady(connection, () => undefined);
    const queues = new VersionQueues(connection, 'mf');
    const flow = (id: string) => ({
      name: 'batch',
      queueName: '{v}:parents',
      data: {},
      opts: { jobId: id },
      children: [{ name: 'chunk', queueName: '{v}:bulk', data: { n: 1 } }],
    });

    // Redis pauses while both handles start; each start fails once its read times out.
    process.kill(server.pid, 'SIGSTOP');
    const kept = new FlowProducer({ connection, prefix: 'mf', skipWaitingForReady: true });
    kept.on('error', () => undefined);
    const first = queues.flows();
    await assert.rejects(kept.waitUntilReady(), /Command timed out/);
    await assert.rejects(first.waitUntilReady(), /Command timed out/);
    process.kill(server.pid, 'SIGCONT');
    assert.equal(await connection.ping(), 'PONG');

    // Control: the producer made once and kept fails every call, Redis answering or not.
    await assert.rejects(kept.add(flow('kept')), (error) => isRedisUnavailable(error));
    const made = queues.flows();
    assert.notEqual(made, first, 'the producer whose start failed was dropped');
    const added = await made.add(flow('made'));
    assert.equal(added.job.id, 'made');
    assert.equal(await added.job.getState(), 'waiting-children');
    assert.equal(queues.flows(), made, 'a producer that started is kept');
    await kept.close().catch(() => undefined);
    await queues.close();
  });
});
