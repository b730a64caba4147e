import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Queue } from 'bullmq';
import { startFragileStack, type FragileStore } from '../support/fragile-package';
import { eventually } from '../support/processes';
import { Stack } from '../support/stack';

describe('queue position and expected times', () => {
  let fragile: FragileStore;
  let stack: Stack;
  let queue: Queue;
  let stop: (() => Promise<void>) | undefined;

  before(async () => {
    ({ fragile, stack, queue, stop } = await startFragileStack({
      // One job in a worker's hands at a time: the others wait in the queue.
      workerEnv: { WORKER_CONCURRENCY: '1', BULK_CONCURRENCY: '1' },
      workers: 0,
      waitHealthy: false,
    }));
  });
  after(async () => {
    fragile?.off('block');
    await stop?.();
  });

  const create = async (texts: string[]) => {
    const created = await stack.request('POST', '/v1/predictions', {
      model: 'fragile',
      input: { data: texts },
    });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    return created.body.id as string;
  };
  const view = async (id: string) => (await stack.request('GET', `/v1/predictions/${id}`)).body;
  const positions = async (ids: string[]) =>
    (await Promise.all(ids.map(view))).map((v) => v.queue?.position as number | undefined);

  it('counts positions down as the queue drains', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await create([`sports ${i}`, `business ${i}`]));
    const first = await Promise.all(ids.map(view));
    assert.deepEqual(
      first.map((v) => v.queue.position),
      [0, 1, 2, 3, 4],
    );
    assert.deepEqual(
      first.map((v) => v.queue.texts_ahead),
      [0, 2, 4, 6, 8],
    );
    // No worker reports a throughput yet: no time to expect.
    assert.equal(first[4].queue.estimated_start_at, null);
    // Control: with no worker, polling again does not move anyone.
    assert.deepEqual(await positions(ids), [0, 1, 2, 3, 4]);

    fragile.on('block');
    stack.addWorker({ WORKER_CONCURRENCY: '1', BULK_CONCURRENCY: '1' });
    await eventually('the first job to be in a forward pass', () =>
      fragile.seen().includes('sports 0') ? true : undefined,
    );
    assert.equal((await view(ids[0])).status, 'processing');
    assert.equal((await view(ids[0])).queue, undefined, 'a job in work has no place in the queue');
    // The worker took one more into its hands (concurrency 1 plus the one it runs) at most.
    const fallen = await positions(ids.slice(1));
    const taken = fallen.filter((p) => p === undefined).length;
    assert.deepEqual(
      fallen.slice(taken),
      [0, 1, 2, 3].slice(0, 4 - taken),
      'each waiting job moved up by the jobs the worker took',
    );

    fragile.off('block');
    await eventually(
      'every job to succeed',
      async () => {
        const views = await Promise.all(ids.map(view));
        return views.every((v) => v.status === 'succeeded') ? views : undefined;
      },
      30_000,
      200,
    );
    assert.ok((await Promise.all(ids.map(view))).every((v) => v.queue === undefined));
  });

  it('estimates start and finish from the throughput the workers report', async () => {
    await eventually('the worker to report a throughput', async () => {
      const body = (await stack.manage('GET', '/models/fragile')).body;
      const rate = /"fragile@1":(\d+(\.\d+)?)/.exec(JSON.stringify(body));
      return rate && Number(rate[1]) > 0 ? true : undefined;
    });
    fragile.on('block');
    const running = await create(['sports running']);
    await eventually('it to be in a forward pass', () =>
      fragile.seen().includes('sports running') ? true : undefined,
    );
    const ids = [await create(['sports a']), await create(['sports b', 'business b'])];
    // The API reads the workers' throughput at most a second late.
    const waiting = await eventually('the last job to be queued with an estimate', async () => {
      const last = await view(ids[1]);
      return last.queue?.estimated_start_at ? last : undefined;
    });
    const start = Date.parse(waiting.queue.estimated_start_at);
    const finish = Date.parse(waiting.queue.estimated_finish_at);
    assert.ok(Number.isFinite(start) && Number.isFinite(finish), JSON.stringify(waiting.queue));
    assert.ok(finish > start, 'its own two texts take time after it starts');
    fragile.off('block');
    for (const id of [running, ...ids]) {
      await eventually(`${id} to succeed`, async () =>
        (await view(id)).status === 'succeeded' ? true : undefined,
      );
    }
  });

  it('moves the jobs behind a canceled queued job up', async () => {
    await stack.workers[0].stop();
    const ids = [
      await create(['sports x']),
      await create(['sports y']),
      await create(['sports z']),
    ];
    assert.deepEqual(await positions(ids), [0, 1, 2]);
    const canceled = await stack.request('POST', `/v1/predictions/${ids[0]}/cancel`);
    assert.equal(canceled.status, 200);
    assert.deepEqual(await positions(ids.slice(1)), [0, 1]);
  });

  it('shows a running batch where its rows stand in the bulk queue', async () => {
    // The worker is stopped: nothing is taken from the queue.
    const upload = async (rows: string[]) => {
      const created = await fetch(
        `${stack.apiUrl}/v1/batches?model=fragile&text=text&chunk_size=2`,
        {
          method: 'POST',
          headers: { 'content-type': 'text/csv' },
          body: `text\n${rows.join('\n')}\n`,
        },
      );
      assert.equal(created.status, 202);
      return ((await created.json()) as { id: string }).id;
    };
    const first = await upload(['sports a', 'sports b', 'business c']);
    const second = await upload(['sports d']);
    const [a, b] = await Promise.all(
      [first, second].map(async (id) => (await stack.request('GET', `/v1/batches/${id}`)).body),
    );
    assert.deepEqual([a.queue.position, a.queue.texts_ahead], [0, 0]);
    assert.deepEqual(
      [b.queue.position, b.queue.texts_ahead],
      [2, 3],
      'behind both chunks of the first',
    );
  });

  it('control: a job put on the queue without a place shows none', async () => {
    const job = await queue.add(
      'predict',
      { model: 'fragile', version: '1', texts: ['sports unstamped'] },
      { jobId: `fragile@1.${randomUUID()}` },
    );
    const unstamped = await view(job.id!);
    assert.equal(unstamped.status, 'queued');
    assert.equal(unstamped.queue, undefined);
  });
});
