import assert from 'node:assert/strict';
import { after, afterEach, before } from 'node:test';
import type { Job, Queue } from 'bullmq';
import { startFragileStack, type FragileStore } from './fragile-package';
import { eventually } from './processes';
import type { Stack } from './stack';

/**
 * A fragile stack for the deadline tests of one file: started before them, stopped after, and
 * between two tests the worker is left free. The helpers block the handler, create and follow
 * jobs, and read the worker's count of expired jobs.
 */
export function deadlineStack() {
  const fixture = {} as { fragile: FragileStore; stack: Stack; queue: Queue; bulkQueue: Queue };
  let stop: (() => Promise<void>) | undefined;
  before(async () => {
    const started = await startFragileStack();
    stop = started.stop;
    Object.assign(fixture, started, { bulkQueue: started.stack.bulkQueue('fragile', '1') });
  });
  // A test that failed may leave the worker blocked: the next one starts once it is free (a
  // block file removed and made again between two of the handler's looks would hold it on).
  afterEach(() => {
    fixture.fragile.off('block');
    return eventually('the worker to be free', async () => {
      const queues = [fixture.queue, fixture.bulkQueue];
      const active = await Promise.all(queues.map((q) => q.getActiveCount()));
      return active.every((n) => n === 0) ? true : undefined;
    });
  });
  after(() => stop?.());

  const create = async (text: string, extra: Record<string, unknown> = {}, headers = {}) => {
    const created = await fixture.stack.request(
      'POST',
      '/v1/predictions',
      { model: 'fragile', input: { data: [text] }, ...extra },
      headers,
    );
    assert.equal(created.status, 202, JSON.stringify(created.body));
    return created.body.id as string;
  };
  const view = async (id: string) =>
    (await fixture.stack.request('GET', `/v1/predictions/${id}`)).body;
  const finished = (id: string) =>
    eventually(`prediction ${id} to finish`, async () => {
      const body = await view(id);
      return body.status === 'succeeded' || body.status === 'failed' ? body : undefined;
    });
  /** Blocks the handler with a job of its own; resolves once that job is in a forward pass. */
  const blockWorker = async (text: string) => {
    fixture.fragile.on('block');
    const id = await create(text);
    await eventually('the blocking job to reach the handler', () =>
      fixture.fragile.seen().includes(text) ? true : undefined,
    );
    return id;
  };
  const taken = (ids: string[]) =>
    eventually('every job to be in the worker’s hands', async () => {
      const views = await Promise.all(ids.map(view));
      return views.every((v) => v.status === 'processing') ? true : undefined;
    });
  /**
   * Resolves once the job holding `text` (found in any state: the API may enqueue it after its
   * caller gave up, a worker may fail it at once) has failed or is past its own deadline.
   */
  const settledOrPastDeadline = (jobQueue: Queue, text: string) =>
    eventually(`the job of “${text}” to fail or pass its deadline`, async () => {
      const jobs: Job[] = await jobQueue.getJobs();
      const job = jobs.find((j) => (j.data as { texts?: string[] }).texts?.includes(text));
      if (!job) return undefined;
      if ((await job.getState()) === 'failed') return true;
      const deadline = (job.data as { deadline?: number }).deadline;
      assert.notEqual(deadline, undefined, `the job of “${text}” carries a deadline`);
      return Date.now() > deadline! ? true : undefined;
    });
  const expiredCount = async () => {
    const ops = await fixture.stack.workerMetricsUrl(fixture.stack.workers[0]);
    const metrics = await (await fetch(`${ops}/metrics`)).text();
    const match = /modelfleet_worker_jobs_expired_total\{model="fragile",version="1"\} (\d+)/.exec(
      metrics,
    );
    return Number(match?.[1] ?? 0);
  };

  return Object.assign(fixture, {
    create,
    view,
    finished,
    blockWorker,
    taken,
    settledOrPastDeadline,
    expiredCount,
  });
}
