import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
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
