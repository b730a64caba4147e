import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { predictionQueueName } from '@app/common';
import { eventually } from '../support/processes';
import { TestRedisCluster } from '../support/redis-cluster';
import { TestRedisSentinel, redisToolsMissing } from '../support/redis-sentinel';
import { ServeProcess } from '../support/serve-process';
import { Stack } from '../support/stack';
import { Traffic } from './traffic';
import { assertNothingLost, printReports, type TrafficReport } from './traffic-report';

/**
 * The loss of a Redis machine, under a steady stream of async creates and sync calls: a replica
 * takes over from a primary that was killed (Sentinel, Redis Cluster) or cut off (paused longer
 * than the failover takes), and the API and worker follow it without a restart. With
 * REDIS_ACK_REPLICAS=1 no acknowledged job is lost and none finishes twice; without it (the
 * control) the table shows what a failover can cost. Each case is bounded by conditions, never by
 * timings: traffic runs until the fault has healed and requests are accepted again.
 */
const missing = redisToolsMissing();
/** The first line of an outage, as every process logs it (RedisOutageLog). */
const OUTAGE_BEGINS =
  'Redis is unreachable: reconnecting until it answers (more connection errors are counted, not logged)';

describe('Redis failover under traffic', { skip: !process.env.CI && missing }, () => {
  const reports: TrafficReport[] = [];
  after(() => printReports(reports));

  it('has the Redis tools it needs (fails under CI where they are missing)', () => {
    assert.equal(missing, undefined);
  });

  /**
   * Runs traffic, injects the fault once traffic flows, waits until it has healed and traffic is
   * accepted again, then settles every accepted job (reading the queue events where `redisUrl`
   * says, after the fault).
   */
  async function underTraffic(
    stack: Stack | ServeProcess,
    fault: string,
    inject: () => Promise<void>,
    redisUrl: () => Promise<string>,
  ): Promise<TrafficReport> {
    const traffic = Traffic.start({
      apiUrl: stack.apiUrl,
      ratePerSecond: 10,
      textsPerRequest: 4,
      maxRequests: 5_000,
      maxDurationMs: 300_000,
    });
    try {
      await eventually('traffic to flow', () => (traffic.acceptedSoFar >= 10 ? true : undefined));
      traffic.faultBegins();
      await inject();
      const healed = traffic.acceptedSoFar;
      await eventually(
        'traffic to be accepted again after the fault',
        () => (traffic.acceptedSoFar >= healed + 20 ? true : undefined),
        120_000,
        200,
      );
      traffic.faultEnds();
    } finally {
      await traffic.stop();
    }
    const report = await traffic.settle(fault, {
      apiUrl: stack.apiUrl,
      redisUrl: await redisUrl(),
    });
    reports.push(report);
    // Followed, not restarted: the processes that served before the fault serve after it.
    if (stack instanceof ServeProcess) {
      assert.ok(stack.process.running, 'serve still runs');
      assert.deepEqual(stack.lines('process exited: restarting it'), [], 'no child restarted');
      assert.equal(stack.lines('API listening').length, 1);
    } else {
      assert.ok(stack.api.running, 'the API still runs');
      assert.ok(
        stack.workers.every((w) => w.running),
        'the worker still runs',
      );
      assert.equal(stack.api.logs().filter((l) => l.msg === 'API listening').length, 1);
    }
    return report;
  }

  async function sentinelStack(ackReplicas: number) {
    const topology = await TestRedisSentinel.start({ replicas: 2, sentinels: 3 });
    const stack = await Stack.start({
      redis: topology,
      env: { ...topology.env, REDIS_ACK_REPLICAS: String(ackReplicas) },
    });
    return { topology, stack };
  }

  for (const ack of [1, 0]) {
    const title =
      ack > 0
        ? 'Sentinel, primary SIGKILLed, REDIS_ACK_REPLICAS=1: a replica takes over, nothing acknowledged is lost'
        : 'Sentinel, primary SIGKILLed, REDIS_ACK_REPLICAS=0 (control): traffic resumes; the table shows what was lost';
    it(title, async () => {
      const { topology, stack } = await sentinelStack(ack);
      try {
        const report = await underTraffic(
          stack,
          `Sentinel primary SIGKILLed, REDIS_ACK_REPLICAS=${ack}`,
          async () => {
            const old = await topology.primaryPort();
            process.kill(topology.pidOn(old), 'SIGKILL');
            await topology.promotedFrom(old, 1);
          },
          () => topology.primaryUrl(),
        );
        if (ack > 0) assertNothingLost(report);
        else assert.ok(report.accepted > 0, 'traffic flowed');
      } finally {
        await stack.stop();
      }
    });
  }

  it('modelfleet serve on Sentinel, primary SIGKILLed, REDIS_ACK_REPLICAS=1: the supervisor, API and workers follow the new primary without a restart', async () => {
    const topology = await TestRedisSentinel.start({ replicas: 2, sentinels: 3 });
    let serve: ServeProcess | undefined;
    try {
      serve = await ServeProcess.start({ env: { ...topology.env, REDIS_ACK_REPLICAS: '1' } });
      const report = await underTraffic(
        serve,
        'serve on Sentinel, primary SIGKILLed, REDIS_ACK_REPLICAS=1',
        async () => {
          const old = await topology.primaryPort();
          process.kill(topology.pidOn(old), 'SIGKILL');
          await topology.promotedFrom(old, 1);
        },
        () => topology.primaryUrl(),
      );
      assertNothingLost(report);
      // The supervisor's own connection followed too: it still reads the backlog and scales.
      await eventually('the supervisor to read Redis again', () =>
        serve!.lines('Redis answers again').length > 0 || serve!.lines(OUTAGE_BEGINS).length === 0
          ? true
          : undefined,
      );
    } finally {
      await serve?.stop();
      await topology.stop();
    }
  });

  it('Sentinel, primary cut off (SIGSTOP) past the failover: it returns as a replica, its stale writes do not reappear', async () => {
    const { topology, stack } = await sentinelStack(1);
    let paused: number | undefined;
    try {
      const report = await underTraffic(
        stack,
        'Sentinel primary paused past its failover, then back, REDIS_ACK_REPLICAS=1',
        async () => {
          const old = await topology.primaryPort();
          paused = topology.pidOn(old);
          process.kill(paused, 'SIGSTOP');
          await topology.promotedFrom(old, 1);
          process.kill(paused, 'SIGCONT');
          paused = undefined;
          // Back, it is told to follow the new primary, and drops what it took meanwhile.
          await eventually(
            'the old primary to be a replica',
            async () => ((await topology.roleOn(old)) === 'slave' ? true : undefined),
            120_000,
            250,
          );
          await topology.promotedFrom(old, 2);
        },
        () => topology.primaryUrl(),
      );
      assertNothingLost(report);
    } finally {
      if (paused) process.kill(paused, 'SIGCONT');
      await stack.stop();
    }
  });

  it("Redis Cluster, the primary of a version's slot SIGKILLed, REDIS_ACK_REPLICAS=1: its replica takes over, the old one returns as its replica, nothing acknowledged is lost", async () => {
    const cluster = await TestRedisCluster.start(3, 1);
    const key = `mf:${predictionQueueName('ag-news-bert', '1')}:wait`;
    let stack: Stack | undefined;
    try {
      stack = await Stack.start({
        redis: cluster,
        env: { REDIS_CLUSTER_NODES: cluster.nodes.join(','), REDIS_ACK_REPLICAS: '1' },
      });
      const report = await underTraffic(
        stack,
        "Cluster primary of the version's slot SIGKILLed, REDIS_ACK_REPLICAS=1",
        async () => {
          const old = await cluster.masterOf(key);
          process.kill(cluster.pidOf(old), 'SIGKILL');
          await eventually(
            'the replica to serve the slot',
            async () => {
              const now = await cluster.masterOf(key);
              if (now === old) return undefined;
              const info = await cluster.onNode(now, (redis) => redis.cluster('INFO'));
              return /^cluster_state:ok/m.test(info) ? true : undefined;
            },
            120_000,
            250,
          );
          // The new primary has no replica: with REDIS_ACK_REPLICAS=1 its jobs are refused (503
          // Not replicated) until the killed node is back, as its replica.
          await cluster.restart(old);
          await eventually(
            'the killed node to be a replica in sync',
            async () => {
              const info = await cluster.onNode(old, (redis) => redis.info('replication'));
              return /^master_link_status:up/m.test(info) ? true : undefined;
            },
            120_000,
            250,
          );
        },
        async () => `redis://${await cluster.masterOf(key)}`,
      );
      assertNothingLost(report);
    } finally {
      if (stack) await stack.stop();
      else await cluster.stop();
    }
  });
});
