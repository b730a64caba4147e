import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { after, before, describe, it } from 'node:test';
import { ModelRegistry } from '@app/registry';
import { DurableRedis } from '../support/durable-redis';
import { eventually } from '../support/processes';
import { Stack } from '../support/stack';
import { agNewsSample } from '../support/texts';

const OUTAGE_BEGINS =
  'Redis is unreachable: reconnecting until it answers (more connection errors are counted, not logged)';

describe('a worker whose Redis goes away for ten seconds', () => {
  let redis: DurableRedis;
  let stack: Stack;
  let queue: Queue;

  before(async () => {
    redis = await DurableRedis.start();
    stack = await Stack.start({ redis });
    queue = stack.predictionQueue();
    queue.on('error', () => undefined); // its connection fails while Redis is away
  });
  after(() => stack?.stop());

  it('keeps running, then heartbeats again and answers every job accepted before', async () => {
    const worker = stack.workers[0];
    const texts = agNewsSample(32);
    const ids: string[] = [];
    for (let i = 0; i < 100; i++) {
      const created = await stack.request('POST', '/v1/predictions', {
        model: 'ag-news-bert',
        input: { data: texts },
      });
      assert.equal(created.status, 202);
      ids.push(created.body.id);
    }
    // A standby worker that serves nothing has no BullMQ consumer to hear its connection fail.
    const standby = stack.addWorker({ WORKER_MODELS: 'absent@1' });
    await standby.waitForLog('worker started');
    const ops = await stack.workerMetricsUrl(worker);
    const logLines = worker.output.length;
    const standbyLines = standby.output.length;
    await redis.goAway();
    // Its probe says so once the worker has seen the connection go (on a loaded machine, maybe
    // later than any fixed wait), and then the outage lasts its ten seconds.
    const away = Date.now();
    const reason = await eventually('the worker to report not ready', async () => {
      const readyz = await fetch(`${ops}/readyz`, { signal: AbortSignal.timeout(5000) });
      return readyz.status === 503
        ? ((await readyz.json()) as { reason: string }).reason
        : undefined;
    });
    assert.match(reason, /Redis/);
    await sleep(Math.max(0, 10_000 - (Date.now() - away)));
    await redis.comeBack();
    assert.ok(worker.running, 'the worker did not exit');

    const client = new Redis(redis.url);
    try {
      const registry = new ModelRegistry(client);
      await eventually('the worker to heartbeat again', async () => {
        const record = (await registry.liveWorkers()).find((w) => w.id === worker.name);
        return record?.versions.includes('ag-news-bert@1') ? true : undefined;
      });
    } finally {
      client.disconnect();
    }
    await eventually(
      'every job to succeed',
      async () => {
        const states = await Promise.all(
          ids.map(async (id) => (await queue.getJob(id))?.finishedOn),
        );
        return states.every(Boolean) ? true : undefined;
      },
      60_000,
      250,
    );
    const failed = await Promise.all(ids.map(async (id) => (await queue.getJob(id))!.failedReason));
    assert.deepEqual(failed.filter(Boolean), []);
    // An outage reads as a few lines, however many reconnect attempts it took, also for a
    // worker that serves nothing (no stack trace per attempt from ioredis).
    for (const [app, from] of [
      [worker, logLines],
      [standby, standbyLines],
    ] as const) {
      await app.waitForLog('Redis answers again');
      const lines = app.output.slice(from);
      assert.ok(lines.length <= 6, lines.join('\n'));
      const messages = lines.map((line) => JSON.parse(line).msg);
      assert.deepEqual(new Set(messages), new Set([OUTAGE_BEGINS, 'Redis answers again']));
    }
  });
});
