import assert from 'node:assert/strict';
import type { Queue } from 'bullmq';
import { after, before, describe, it } from 'node:test';
import { eventually } from '../support/processes';
import { Stack } from '../support/stack';
import { agNewsSample } from '../support/texts';

describe('at-least-once delivery', () => {
  let stack: Stack;
  let queue: Queue;

  before(async () => {
    stack = await Stack.start({
      workers: 2,
      env: { LOCK_DURATION_MS: '2000', STALLED_INTERVAL_MS: '1000', MAX_STALLED_COUNT: '1' },
    });
    queue = stack.predictionQueue();
  });
  after(() => stack?.stop());

  it('redelivers the jobs of a worker killed mid-batch, and loses none', async () => {
    const texts = agNewsSample(128);
    const created = await Promise.all(
      Array.from({ length: 60 }, () =>
        stack.request('POST', '/v1/predictions', { model: 'ag-news-bert', input: { data: texts } }),
      ),
    );
    const ids = created.map((c) => c.body.id as string);
    const victim = await eventually(
      'a worker with a job in hand',
      async () => {
        const active = await queue.getActive();
        const owner = active.map((j) => j.data).length
          ? stack.workers.find((w) => w.running)
          : undefined;
        return owner;
      },
      30_000,
      5,
    );
    victim.child.kill('SIGKILL');
    await victim.waitForExit();
    await eventually(
      'every job to succeed on the surviving worker',
      async () => {
        const statuses = await Promise.all(
          ids.map(async (id) => (await stack.request('GET', `/v1/predictions/${id}`)).body.status),
        );
        assert.ok(!statuses.includes('failed'), 'no job failed');
        return statuses.every((s) => s === 'succeeded') ? true : undefined;
      },
      90_000,
      250,
    );
  });

  it('fails a job that keeps killing workers after a bounded number of attempts', async () => {
    const created = await stack.request('POST', '/v1/predictions', {
      model: 'ag-news-bert',
      input: { data: agNewsSample(1000) },
    });
    // Kill whichever worker takes the job (a long one), each time it is taken anew, and replace it.
    let lastStart = 0;
    for (let round = 0; round < 5; round++) {
      const state = await eventually(
        'the job to be taken again or to fail',
        async () => {
          const job = (await queue.getJob(created.body.id))!;
          const s = await job.getState();
          if (s === 'completed')
            throw new Error('the job completed before its worker could be killed');
          if (s === 'failed') return s;
          return s === 'active' && (job.processedOn ?? 0) > lastStart ? s : undefined;
        },
        30_000,
        2,
      );
      if (state === 'failed') break;
      lastStart = (await queue.getJob(created.body.id))!.processedOn ?? 0;
      for (const worker of stack.workers.filter((w) => w.running)) worker.child.kill('SIGKILL');
      await Promise.all(stack.workers.map((w) => w.waitForExit()));
      stack.addWorker();
    }
    const view = await eventually(
      'the job to fail',
      async () => {
        const v = await stack.request('GET', `/v1/predictions/${created.body.id}`);
        return v.body.status === 'failed' ? v.body : undefined;
      },
      30_000,
      250,
    );
    assert.match(view.error, /stalled/);
  });
});
