import assert from 'node:assert/strict';
import type { Queue } from 'bullmq';
import { after, before, describe, it } from 'node:test';
import { agNewsSample } from '../support/texts';
import { eventually } from '../support/processes';
import { Stack } from '../support/stack';

describe('worker lifecycle', () => {
  let stack: Stack;
  let queue: Queue;

  before(async () => {
    stack = await Stack.start();
    queue = stack.predictionQueue();
  });
  after(() => stack?.stop());

  it('finishes the jobs in hand on SIGTERM and leaves the rest queued for the next worker', async () => {
    const texts = agNewsSample(64);
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) {
      const created = await stack.request('POST', '/v1/predictions', {
        model: 'ag-news-bert',
        input: { data: texts },
      });
      assert.equal(created.status, 202);
      ids.push(created.body.id);
    }
    await eventually(
      'the worker to take jobs',
      async () => ((await queue.getActiveCount()) > 0 ? true : undefined),
      30_000,
      5,
    );
    const code = await stack.workers[0].stop('SIGTERM');
    assert.equal(code, 0);
    const statuses = await Promise.all(
      ids.map(async (id) => (await stack.request('GET', `/v1/predictions/${id}`)).body.status),
    );
    assert.ok(
      statuses.every((s) => s === 'succeeded' || s === 'queued'),
      JSON.stringify(statuses),
    );
    assert.equal(await queue.getActiveCount(), 0, 'no job was left active');

    stack.addWorker();
    await eventually(
      'every job to succeed on the new worker',
      async () => {
        const all = await Promise.all(
          ids.map(async (id) => (await stack.request('GET', `/v1/predictions/${id}`)).body.status),
        );
        return all.every((s) => s === 'succeeded') ? true : undefined;
      },
      60_000,
      200,
    );
  });
});
