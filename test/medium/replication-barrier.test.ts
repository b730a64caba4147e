import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { NotReplicatedError, ReplicationBarrier, connectRedis } from '@app/common';
import { TestRedisSentinel, redisToolsMissing } from '../support/redis-sentinel';

const missing = redisToolsMissing();

/** Calls of WAIT the server on `port` has run. */
async function waitCalls(redis: Redis): Promise<number> {
  const stats = await redis.info('commandstats');
  return Number(/^cmdstat_wait:calls=(\d+)/m.exec(stats)?.[1] ?? 0);
}

describe(
  'ReplicationBarrier (REDIS_ACK_REPLICAS) on a primary with one replica',
  {
    skip: !process.env.CI && missing,
  },
  () => {
    let topology: TestRedisSentinel;
    let writer: Redis;
    let replica: Redis;
    let primary: Redis;
    let own: Redis;
    let barrier: ReplicationBarrier;

    before(async () => {
      topology = await TestRedisSentinel.start({ replicas: 1, sentinels: 0 });
      const [primaryPort, replicaPort] = topology.serverPorts;
      writer = connectRedis(`redis://127.0.0.1:${primaryPort}`);
      primary = new Redis(primaryPort, '127.0.0.1');
      replica = new Redis(replicaPort, '127.0.0.1');
      // The barrier's own connection: not the one that writes.
      own = connectRedis(`redis://127.0.0.1:${primaryPort}`);
      barrier = new ReplicationBarrier(own, 1, 500);
    });
    after(async () => {
      for (const client of [writer, primary, replica, own]) client?.disconnect();
      await topology?.stop();
    });

    it('has the Redis tools it needs (fails under CI where they are missing)', () => {
      assert.equal(missing, undefined);
    });

    it('resolves once the replica holds a write made on another connection', async () => {
      await writer.set('job:1', 'data');
      await barrier.hold('barrier', ['job:1']);
      // Acknowledged means the replica has it now, not eventually.
      assert.equal(await replica.get('job:1'), 'data');
    });

    it('shares one WAIT among callers that arrive together', async () => {
      const before = await waitCalls(primary);
      const ids = Array.from({ length: 40 }, (_, i) => `job:many:${i}`);
      await Promise.all(ids.map((id) => writer.set(id, 'x')));
      await Promise.all(ids.map((id) => barrier.hold('barrier', [id])));
      const rounds = (await waitCalls(primary)) - before;
      assert.ok(rounds >= 1 && rounds < ids.length, `${rounds} WAITs for ${ids.length} callers`);
    });

    it('refuses a key the primary does not hold (a failover lost it): nothing vouches for it', async () => {
      await assert.rejects(barrier.hold('barrier', ['job:never-written']), (error) => {
        assert.ok(error instanceof NotReplicatedError);
        assert.equal(error.missing, true);
        return true;
      });
    });

    it('refuses, naming the replicas, when the replica does not acknowledge in time', async () => {
      const pid = topology.pidOn(topology.serverPorts[1]);
      process.kill(pid, 'SIGSTOP');
      try {
        await writer.set('job:2', 'data');
        await assert.rejects(barrier.hold('barrier', ['job:2']), (error) => {
          assert.ok(error instanceof NotReplicatedError);
          assert.equal(error.missing, false);
          assert.equal(error.acknowledged, 0);
          assert.match(error.message, /0 of the 1 Redis replicas asked for acknowledged the job/);
          return true;
        });
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      // Back, the replica acknowledges again (the control).
      await writer.set('job:3', 'data');
      await barrier.hold('barrier', ['job:3']);
    });
  },
);
