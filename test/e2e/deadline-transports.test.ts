import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { deadlineStack } from '../support/deadline-stack';
import { GrpcTestClient, type CallError } from '../support/grpc-client';
import { eventually } from '../support/processes';

describe('deadlines across transports and batches', () => {
  const d = deadlineStack();
  const { blockWorker, settledOrPastDeadline, expiredCount } = d;

  it('bounds a v2 REST call by its deadline_ms parameter, and the job never runs', async () => {
    const before = await expiredCount();
    await blockWorker('sports blocker six');
    const late = await d.stack.request(
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
    d.fragile.off('block');
    await eventually('the job to expire', async () =>
      (await expiredCount()) > before ? true : undefined,
    );
    assert.ok(!d.fragile.seen().includes('sports v2 late'));
  });

  it('gives a gRPC ModelInfer call’s own deadline to its job', async () => {
    const before = await expiredCount();
    const client = GrpcTestClient.openInference(d.stack.grpcAddress);
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
      await settledOrPastDeadline(d.queue, 'sports grpc late');
      // Control: a call without a deadline is answered once the worker is free.
      const inTime = client.call('ModelInfer', request('sports grpc in time'));
      d.fragile.off('block');
      assert.equal((await inTime).model_name, 'fragile');
      await eventually('the late job to expire', async () =>
        (await expiredCount()) > before ? true : undefined,
      );
      const lateJob = (await d.queue.getJobs('failed')).find((j) =>
        (j.data as { texts: string[] }).texts.includes('sports grpc late'),
      );
      assert.equal(lateJob?.failedReason, 'deadline_exceeded');
      assert.ok(!d.fragile.seen().includes('sports grpc late'), 'the late job never ran');
      assert.ok(d.fragile.seen().includes('sports grpc in time'));
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
        d.stack.request('POST', `/predictions/fragile${late(i) ? '?deadline_ms=300' : ''}`, {
          data: [text],
        }),
      );
      // The worker stays held until every late call was answered (at its deadline, by the API):
      // a fixed sleep let late calls that reached a loaded API after it be served in time.
      await Promise.all(calls.filter((_, i) => late(i)));
      d.fragile.off('block');
      const answers = await Promise.all(calls);
      answers.forEach((answer, i) => {
        assert.equal(answer.status, late(i) ? 504 : 200, JSON.stringify(answer.body));
        if (late(i)) assert.equal(answer.body.reason, 'deadline_exceeded');
      });
      const seen = d.fragile.seen();
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
      `${d.stack.apiUrl}/v1/batches?model=fragile&text=text&chunk_size=1&deadline_ms=300`,
      {
        method: 'POST',
        headers: { 'content-type': 'text/csv' },
        body: 'text\nsports a\nbusiness b\n',
      },
    );
    assert.equal(created.status, 202);
    const batch = (await created.json()) as { id: string };
    await settledOrPastDeadline(d.bulkQueue, 'sports a');
    await settledOrPastDeadline(d.bulkQueue, 'business b');
    d.fragile.off('block');
    const done = await eventually('the batch to finish', async () => {
      const body = (await d.stack.request('GET', `/v1/batches/${batch.id}`)).body;
      return body.status === 'running' ? undefined : body;
    });
    assert.equal(done.status, 'succeeded');
    assert.deepEqual(done.counts.failed, 2);
    const errors = await (await fetch(`${d.stack.apiUrl}/v1/batches/${batch.id}/errors`)).text();
    const reasons = errors
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { error: string }).error);
    assert.deepEqual(reasons, ['deadline_exceeded', 'deadline_exceeded']);
  });
});
