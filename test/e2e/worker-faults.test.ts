import assert from 'node:assert/strict';
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { after, before, describe, it } from 'node:test';
import { ModelRegistry } from '@app/registry';
import { fragileStore } from '../support/fragile-package';
import { eventually } from '../support/processes';
import { Stack } from '../support/stack';

describe('a worker whose inference thread dies', () => {
  let fragile: ReturnType<typeof fragileStore>;
  let stack: Stack;
  let queue: Queue;
  let redis: Redis;
  let registry: ModelRegistry;

  before(async () => {
    fragile = fragileStore();
    stack = await Stack.start({
      modelStore: fragile.store,
      env: { ALLOW_PACKAGE_CODE: 'true', LOAD_RETRY_MS: '100' },
    });
    queue = stack.predictionQueue('fragile', '1');
    redis = new Redis(stack.redis.url);
    registry = new ModelRegistry(redis);
  });
  after(async () => {
    redis?.disconnect();
    await stack?.stop();
    fragile?.remove();
  });

  const create = async (texts: string[]): Promise<string> => {
    const created = await stack.request('POST', '/v1/predictions', {
      model: 'fragile',
      input: { data: texts },
    });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    return created.body.id as string;
  };
  const allSucceeded = async (ids: string[]) => {
    const views = await Promise.all(ids.map((id) => stack.request('GET', `/v1/predictions/${id}`)));
    const statuses = views.map((v) => v.body.status as string);
    assert.ok(!statuses.includes('failed'), JSON.stringify(views.map((v) => v.body.error)));
    return statuses.every((s) => s === 'succeeded') ? true : undefined;
  };
  const attempts = async (ids: string[]) =>
    Promise.all(ids.map(async (id) => (await queue.getJob(id))!.attemptsMade));

  it('hands its jobs back unspent, is not ready while it restarts the thread, then answers every job', async () => {
    const worker = stack.workers[0];
    const ops = await stack.workerMetricsUrl(worker);
    fragile.on('hold'); // the restarted thread waits in its start until the test lets it go
    fragile.on('die'); // the next forward pass ends the thread
    const ids = await Promise.all(
      Array.from({ length: 40 }, (_, i) => create([`sports today ${i}`, 'business news'])),
    );

    const notReady = await eventually('the worker to say it is not ready', async () => {
      const response = await fetch(`${ops}/readyz`);
      return response.status === 503 ? ((await response.json()) as { reason: string }) : undefined;
    });
    assert.match(notReady.reason, /fragile@1: inference thread died/);
    await eventually('its registry record to stop claiming the version', async () => {
      const record = (await registry.liveWorkers()).find((w) => w.id === worker.name);
      return record && record.versions.length === 0 ? true : undefined;
    });
    await eventually('every job to be back in the queue', async () =>
      (await queue.getActiveCount()) === 0 && (await queue.getWaitingCount()) === ids.length
        ? true
        : undefined,
    );
    assert.deepEqual(new Set(await attempts(ids)), new Set([0]), 'no attempt was spent');
    const handedBack = worker.logs().find((l) => l.msg === 'jobs in hand handed back to the queue');
    assert.ok(Number(handedBack?.jobs) >= 1, 'the thread died with jobs in hand');

    fragile.off('hold');
    await eventually('every job to succeed', () => allSucceeded(ids), 30_000, 200);
    // BullMQ counts the attempt that succeeds: 1 is a job answered at its first try.
    assert.deepEqual(new Set(await attempts(ids)), new Set([1]));
    assert.equal((await fetch(`${ops}/readyz`)).status, 200);
    await eventually('its heartbeat to report its throughput', async () => {
      const record = (await registry.liveWorkers()).find((w) => w.id === worker.name);
      return (record?.throughput?.['fragile@1'] ?? 0) > 0 ? true : undefined;
    });
    const metrics = await (await fetch(`${ops}/metrics`)).text();
    assert.match(
      metrics,
      /modelfleet_worker_inference_thread_deaths_total\{model="fragile",version="1"\} 1\n/,
    );
    assert.ok(worker.running);
  });

  it('control: a forward pass that fails costs its job an attempt, which the count shows', async () => {
    fragile.on('fail');
    const id = await create(['sports alone']); // a group of one: it fails as a whole
    await eventually('the job to succeed on its retry', () => allSucceeded([id]), 30_000, 200);
    assert.deepEqual(await attempts([id]), [2]);
  });

  it('exits non-zero when its threads keep dying, leaving its job queued and unspent', async () => {
    await stack.workers[0].stop();
    const worker = stack.addWorker({ THREAD_DEATH_LIMIT: '2' });
    await worker.waitForLog('worker started');
    fragile.on('die-always'); // every forward pass from now on, the restart's warm-up included
    const id = await create(['sports again']);
    assert.equal(await worker.waitForExit(), 1);
    assert.ok(
      worker.logs().some((l) => l.msg === 'giving up: the worker exits so that it is replaced'),
    );
    assert.equal(await (await queue.getJob(id))!.getState(), 'waiting');
    assert.deepEqual(await attempts([id]), [0]);

    fragile.off('die-always');
    stack.addWorker();
    await eventually('a new worker to answer it', () => allSucceeded([id]), 30_000, 200);
    assert.deepEqual(await attempts([id]), [1]);
  });
});
