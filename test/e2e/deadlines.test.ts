import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { deadlineStack } from '../support/deadline-stack';

describe('deadlines', () => {
  const d = deadlineStack();
  const { create, finished, blockWorker, taken, settledOrPastDeadline, expiredCount } = d;

  it('fails a job whose deadline passed while it waited for a batch, never running it', async () => {
    const before = await expiredCount();
    const blocker = await blockWorker('sports blocker one');
    const late = await create('sports too late', { deadline_ms: 300 });
    const patient = await create('sports patient', {}, { 'request-timeout': '60000' });
    await taken([late, patient]);
    await settledOrPastDeadline(d.queue, 'sports too late'); // the second is a minute away
    d.fragile.off('block');

    const lateView = await finished(late);
    assert.equal(lateView.status, 'failed');
    assert.equal(lateView.error, 'deadline_exceeded');
    assert.equal((await d.queue.getJob(late))!.attemptsMade, 1, 'failed for good, not retried');
    assert.equal((await finished(patient)).status, 'succeeded', 'control: a job in time runs');
    assert.equal((await finished(blocker)).status, 'succeeded');
    assert.ok(
      !d.fragile.seen().includes('sports too late'),
      'the expired job never reached the handler',
    );
    assert.ok(d.fragile.seen().includes('sports patient'));
    assert.equal(await expiredCount(), before + 1);
  });

  it('fails a job whose deadline passed in the queue as soon as a worker takes it', async () => {
    const job = await d.queue.add(
      'predict',
      {
        model: 'fragile',
        version: '1',
        texts: ['business expired in the queue'],
        deadline: Date.now() - 1,
      },
      { jobId: `fragile@1.${randomUUID()}` },
    );
    const control = await d.queue.add(
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
    assert.ok(!d.fragile.seen().includes('business expired in the queue'));
  });

  it('fills a batch earliest deadline first among jobs of equal priority', async () => {
    await blockWorker('sports blocker two');
    const ids = [
      await create('edf none'),
      await create('edf far', { deadline_ms: 60_000 }),
      await create('edf near', { deadline_ms: 30_000 }),
    ];
    await taken(ids);
    d.fragile.off('block');
    for (const id of ids) assert.equal((await finished(id)).status, 'succeeded');
    const order = d.fragile.seen().filter((t) => t.startsWith('edf '));
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
    d.fragile.off('block');
    for (const id of ids) assert.equal((await finished(id)).status, 'succeeded');
    const order = d.fragile.seen().filter((t) => t.startsWith('arrival '));
    assert.deepEqual(order, ['arrival none', 'arrival far', 'arrival near']);
  });

  it('answers a sync call 504 deadline_exceeded by its deadline, with the id to poll', async () => {
    await blockWorker('sports blocker four');
    const inTime = fetch(`${d.stack.apiUrl}/predictions/fragile?deadline_ms=60000`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ data: ['sports in time'] }),
    });
    const late = await d.stack.request(
      'POST',
      '/predictions/fragile',
      { data: ['sports sync late'] },
      { 'request-timeout': '300' },
    );
    assert.equal(late.status, 504);
    assert.match(late.headers.get('content-type') ?? '', /application\/problem\+json/);
    assert.equal(late.body.reason, 'deadline_exceeded');
    assert.match(late.body.id, /^fragile@1\./);
    d.fragile.off('block');
    // Control: the call with a far deadline waited for its answer.
    assert.equal((await inTime).status, 200);
    assert.equal((await finished(late.body.id)).error, 'deadline_exceeded');
    assert.ok(!d.fragile.seen().includes('sports sync late'));
  });

  it('refuses a bad deadline with a 400 problem', async () => {
    const cases: [Record<string, unknown>, Record<string, string>][] = [
      [{ deadline_ms: 0 }, {}],
      [{ deadline_ms: 1.5 }, {}],
      [{}, { 'request-timeout': 'soon' }],
      [{}, { 'request-timeout': '-5' }],
    ];
    for (const [extra, headers] of cases) {
      const answer = await d.stack.request(
        'POST',
        '/v1/predictions',
        { model: 'fragile', input: { data: ['sports'] }, ...extra },
        headers,
      );
      assert.equal(answer.status, 400, JSON.stringify({ extra, headers }));
      assert.match(answer.headers.get('content-type') ?? '', /application\/problem\+json/);
    }
    const sync = await d.stack.request('POST', '/predictions/fragile?deadline_ms=x', {
      data: ['a'],
    });
    assert.equal(sync.status, 400);
    // Control: a good one is taken.
    await create('sports good deadline', { deadline_ms: 1000 }, { 'request-timeout': '2000' });
  });
});
