import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Job, Queue } from 'bullmq';
import { status } from '@grpc/grpc-js';
import { startFragileStack, type FragileStore } from '../support/fragile-package';
import { GrpcTestClient, type CallError } from '../support/grpc-client';
import { eventually } from '../support/processes';
import { Stack } from '../support/stack';

describe('deadlines', () => {
  let fragile: FragileStore;
  let stack: Stack;
  let queue: Queue;
  let bulkQueue: Queue;
  let stop: (() => Promise<void>) | undefined;

  before(async () => {
    ({ fragile, stack, queue, stop } = await startFragileStack());
    bulkQueue = stack.bulkQueue('fragile', '1');
  });
  // A test that failed may leave the worker blocked: the next one starts once it is free (a
  // block file removed and made again between two of the handler's looks would hold it on).
  afterEach(() => {
    fragile.off('block');
    return eventually('the worker to be free', async () => {
      const active = await Promise.all([queue, bulkQueue].map((q) => q.getActiveCount()));
      return active.every((n) => n === 0) ? true : undefined;
    });
  });
  after(() => stop?.());

  const create = async (text: string, extra: Record<string, unknown> = {}, headers = {}) => {
    const created = await stack.request(
      'POST',
      '/v1/predictions',
      { model: 'fragile', input: { data: [text] }, ...extra },
      headers,
    );
    assert.equal(created.status, 202, JSON.stringify(created.body));
    return created.body.id as string;
  };
  const view = async (id: string) => (await stack.request('GET', `/v1/predictions/${id}`)).body;
  const finished = (id: string) =>
    eventually(`prediction ${id} to finish`, async () => {
      const body = await view(id);
      return body.status === 'succeeded' || body.status === 'failed' ? body : undefined;
    });
  /** Blocks the handler with a job of its own; resolves once that job is in a forward pass. */
  const blockWorker = async (text: string) => {
    fragile.on('block');
    const id = await create(text);
    await eventually('the blocking job to reach the handler', () =>
      fragile.seen().includes(text) ? true : undefined,
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
    const ops = await stack.workerMetricsUrl(stack.workers[0]);
    const metrics = await (await fetch(`${ops}/metrics`)).text();
    const match = /modelfleet_worker_jobs_expired_total\{model="fragile",version="1"\} (\d+)/.exec(
      metrics,
    );
    return Number(match?.[1] ?? 0);
  };

  it('fails a job whose deadline passed while it waited for a batch, never running it', async () => {
    const before = await expiredCount();
    const blocker = await blockWorker('sports blocker one');
    const late = await create('sports too late', { deadline_ms: 300 });
    const patient = await create('sports patient', {}, { 'request-timeout': '60000' });
    await taken([late, patient]);
    await settledOrPastDeadline(queue, 'sports too late'); // the second is a minute away
    fragile.off('block');

    const lateView = await finished(late);
    assert.equal(lateView.status, 'failed');
    assert.equal(lateView.error, 'deadline_exceeded');
    assert.equal((await queue.getJob(late))!.attemptsMade, 1, 'failed for good, not retried');
    assert.equal((await finished(patient)).status, 'succeeded', 'control: a job in time runs');
    assert.equal((await finished(blocker)).status, 'succeeded');
    assert.ok(
      !fragile.seen().includes('sports too late'),
      'the expired job never reached the handler',
    );
    assert.ok(fragile.seen().includes('sports patient'));
    assert.equal(await expiredCount(), before + 1);
  });

  it('fails a job whose deadline passed in the queue as soon as a worker takes it', async () => {
    const job = await queue.add(
      'predict',
      {
        model: 'fragile',
        version: '1',
        texts: ['business expired in the queue'],
        deadline: Date.now() - 1,
      },
      { jobId: `fragile@1.${randomUUID()}` },
    );
    const control = await queue.add(
      'predict',
      {
        model: 'fragile',
        version: '1',
        texts: ['business still in time'],
        deadline: Date.now() + 60_000,
      },
      { jobId: `fragile@1.${randomUUID()}` },
    );
    assert.equal((await finished(job.id!)).error, 'deadline_exceeded');
    assert.equal((await finished(control.id!)).status, 'succeeded');
    assert.ok(!fragile.seen().includes('business expired in the queue'));
  });

  it('fills a batch earliest deadline first among jobs of equal priority', async () => {
    await blockWorker('sports blocker two');
    const ids = [
      await create('edf none'),
      await create('edf far', { deadline_ms: 60_000 }),
      await create('edf near', { deadline_ms: 30_000 }),
    ];
    await taken(ids);
    fragile.off('block');
    for (const id of ids) assert.equal((await finished(id)).status, 'succeeded');
    const order = fragile.seen().filter((t) => t.startsWith('edf '));
    assert.deepEqual(order, ['edf near', 'edf far', 'edf none']);
  });

  it('control: without deadlines the same jobs run in arrival order', async () => {
    await blockWorker('sports blocker three');
    const ids = [
      await create('arrival none'),
      await create('arrival far'),
      await create('arrival near'),
    ];
    await taken(ids);
    fragile.off('block');
    for (const id of ids) assert.equal((await finished(id)).status, 'succeeded');
    const order = fragile.seen().filter((t) => t.startsWith('arrival '));
    assert.deepEqual(order, ['arrival none', 'arrival far', 'arrival near']);
  });

  it('answers a sync call 504 deadline_exceeded by its deadline, with the id to poll', async () => {
    await blockWorker('sports blocker four');
    const inTime = fetch(`${stack.apiUrl}/predictions/fragile?deadline_ms=60000`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ data: ['sports in time'] }),
    });
    const late = await stack.request(
      'POST',
      '/predictions/fragile',
      { data: ['sports sync late'] },
      { 'request-timeout': '300' },
    );
    assert.equal(late.status, 504);
    assert.match(late.headers.get('content-type') ?? '', /application\/problem\+json/);
    assert.equal(late.body.reason, 'deadline_exceeded');
    assert.match(late.body.id, /^fragile@1\./);
    fragile.off('block');
    // Control: the call with a far deadline waited for its answer.
    assert.equal((await inTime).status, 200);
    assert.equal((await finished(late.body.id)).error, 'deadline_exceeded');
    assert.ok(!fragile.seen().includes('sports sync late'));
  });

  it('bounds a v2 REST call by its deadline_ms parameter, and the job never runs', async () => {
    const before = await expiredCount();
    await blockWorker('sports blocker six');
    const late = await stack.request(
      'POST',
      '/v2/models/fragile/infer',
      {
        parameters: { deadline_ms: 300 },
        inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], data: ['sports v2 late'] }],
      },
      {},
    );
    assert.equal(late.status, 504, JSON.stringify(late.body));
    assert.match(late.body.error, /deadline/i);
    fragile.off('block');
    await eventually('the job to expire', async () =>
      (await expiredCount()) > before ? true : undefined,
    );
    assert.ok(!fragile.seen().includes('sports v2 late'));
  });

  it('gives a gRPC ModelInfer call’s own deadline to its job', async () => {
    const before = await expiredCount();
    const client = GrpcTestClient.openInference(stack.grpcAddress);
    try {
      // A fresh channel connects on its first call: under load that alone can outlast the
      // deadline, and the call then never reaches the API (so no job carries its deadline).
      await client.ready();
      await blockWorker('sports blocker seven');
      const request = (text: string) => ({
        model_name: 'fragile',
        inputs: [
          {
            name: 'text',
            datatype: 'BYTES',
            shape: [1],
            contents: { bytes_contents: [Buffer.from(text)] },
          },
        ],
      });
      // The deadline need only outlast sending the call: the worker is held past it anyway.
      const error = await client
        .call('ModelInfer', request('sports grpc late'), { deadline: Date.now() + 1000 })
        .then(
          () => undefined,
          (e: CallError) => e,
        );
      assert.equal(error?.code, status.DEADLINE_EXCEEDED);
      // The client's deadline ends its call; the job's own, set when a loaded API read the call,
      // ends a little later, and that API may enqueue the job only after it (a worker then fails
      // it as it takes it): the worker stays held until the job failed or its deadline passed.
      await settledOrPastDeadline(queue, 'sports grpc late');
      // Control: a call without a deadline is answered once the worker is free.
      const inTime = client.call('ModelInfer', request('sports grpc in time'));
      fragile.off('block');
      assert.equal((await inTime).model_name, 'fragile');
      await eventually('the late job to expire', async () =>
        (await expiredCount()) > before ? true : undefined,
      );
      const lateJob = (await queue.getJobs('failed')).find((j) =>
        (j.data as { texts: string[] }).texts.includes('sports grpc late'),
      );
      assert.equal(lateJob?.failedReason, 'deadline_exceeded');
      assert.ok(!fragile.seen().includes('sports grpc late'), 'the late job never ran');
      assert.ok(fragile.seen().includes('sports grpc in time'));
    } finally {
      client.close();
    }
  });

  it('fails only the late share of a coalesced sync job; the others are answered', async () => {
    let shared = false;
    for (let attempt = 0; attempt < 5 && !shared; attempt++) {
      await blockWorker(`sports blocker burst ${attempt}`);
      const texts = Array.from({ length: 20 }, (_, i) => `sports burst ${attempt}-${i}`);
      const late = (i: number) => i % 4 === 1;
      const calls = texts.map((text, i) =>
        stack.request('POST', `/predictions/fragile${late(i) ? '?deadline_ms=300' : ''}`, {
          data: [text],
        }),
      );
      // The worker stays held until every late call was answered (at its deadline, by the API):
      // a fixed sleep let late calls that reached a loaded API after it be served in time.
      await Promise.all(calls.filter((_, i) => late(i)));
      fragile.off('block');
      const answers = await Promise.all(calls);
      answers.forEach((answer, i) => {
        assert.equal(answer.status, late(i) ? 504 : 200, JSON.stringify(answer.body));
        if (late(i)) assert.equal(answer.body.reason, 'deadline_exceeded');
      });
      const seen = fragile.seen();
      texts.forEach((text, i) => assert.equal(seen.includes(text), !late(i), text));
      // A part id (`<job id>.<secret>`) says a late call shared its job with others.
      const partId = /^fragile@1\.[0-9a-f-]{36}\.[\w-]{22}$/;
      shared = answers.some((a, i) => late(i) && partId.test(a.body.id as string));
    }
    assert.ok(shared, 'a late call shared its job');
  });

  it('fails the chunks of a batch not started by its deadline; the batch finishes with them', async () => {
    await blockWorker('sports blocker five');
    const created = await fetch(
      `${stack.apiUrl}/v1/batches?model=fragile&text=text&chunk_size=1&deadline_ms=300`,
      {
        method: 'POST',
        headers: { 'content-type': 'text/csv' },
        body: 'text\nsports a\nbusiness b\n',
      },
    );
    assert.equal(created.status, 202);
    const batch = (await created.json()) as { id: string };
    await settledOrPastDeadline(bulkQueue, 'sports a');
    await settledOrPastDeadline(bulkQueue, 'business b');
    fragile.off('block');
    const done = await eventually('the batch to finish', async () => {
      const body = (await stack.request('GET', `/v1/batches/${batch.id}`)).body;
      return body.status === 'running' ? undefined : body;
    });
    assert.equal(done.status, 'succeeded');
    assert.deepEqual(done.counts.failed, 2);
    const errors = await (await fetch(`${stack.apiUrl}/v1/batches/${batch.id}/errors`)).text();
    const reasons = errors
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { error: string }).error);
    assert.deepEqual(reasons, ['deadline_exceeded', 'deadline_exceeded']);
  });

  it('refuses a bad deadline with a 400 problem', async () => {
    const cases: [Record<string, unknown>, Record<string, string>][] = [
      [{ deadline_ms: 0 }, {}],
      [{ deadline_ms: 1.5 }, {}],
      [{}, { 'request-timeout': 'soon' }],
      [{}, { 'request-timeout': '-5' }],
    ];
    for (const [extra, headers] of cases) {
      const answer = await stack.request(
        'POST',
        '/v1/predictions',
        { model: 'fragile', input: { data: ['sports'] }, ...extra },
        headers,
      );
      assert.equal(answer.status, 400, JSON.stringify({ extra, headers }));
      assert.match(answer.headers.get('content-type') ?? '', /application\/problem\+json/);
    }
    const sync = await stack.request('POST', '/predictions/fragile?deadline_ms=x', { data: ['a'] });
    assert.equal(sync.status, 400);
    // Control: a good one is taken.
    await create('sports good deadline', { deadline_ms: 1000 }, { 'request-timeout': '2000' });
  });
});
