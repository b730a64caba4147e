import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openModel, type Handler, type Prediction } from '@app/handler';
import { runBatch } from '../support/run-batch';
import { demoModelStore } from '../support/model-store';
import { DEMO_MODEL } from '../support/paths';
import { NEWS_TEXTS, assertSamePredictions } from '../support/predictions';
import { eventually } from '../support/processes';
import { Stack } from '../support/stack';

const API_KEY = 'test-api-key-123';
const auth = { authorization: `Bearer ${API_KEY}` };
describe('queue pipeline, end to end', () => {
  let stack: Stack;
  let handler: Handler<Prediction>;

  before(async () => {
    // Version 1 is served; version 2 is registered but no worker takes it.
    const store = demoModelStore([{ version: '1' }, { version: '2' }]);
    stack = await Stack.start({
      modelStore: store,
      env: {
        API_KEY,
        MAX_TEXTS_PER_REQUEST: '64',
        MAX_BODY_BYTES: '20000',
        SYNC_TIMEOUT_MS: '3000',
      },
      workerEnv: { WORKER_MODELS: 'ag-news-bert@1' },
    });
    handler = (await openModel(DEMO_MODEL, { device: 'cpu' })).handler as Handler<Prediction>;
  });
  after(async () => {
    await stack?.stop();
    await handler?.dispose();
  });

  it('answers a sync request like the handler itself, in input order', async () => {
    const response = await stack.request(
      'POST',
      '/predictions/ag-news-bert/1',
      { data: NEWS_TEXTS },
      auth,
    );
    assert.equal(response.status, 200);
    const expected = (await runBatch(handler, NEWS_TEXTS)).results;
    assertSamePredictions(response.body, expected);
  });

  it('accepts a bare JSON string and text/plain, answering a single object', async () => {
    const bare = await stack.request(
      'POST',
      '/predictions/ag-news-bert',
      JSON.stringify(NEWS_TEXTS[0]),
      auth,
    );
    assert.equal(bare.status, 200);
    assert.equal(
      bare.body.label_name,
      (await runBatch(handler, [NEWS_TEXTS[0]])).results[0].label_name,
    );
    const plain = await fetch(`${stack.apiUrl}/predictions/ag-news-bert`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', ...auth },
      body: NEWS_TEXTS[1],
    });
    assert.equal(plain.status, 200);
    assert.equal(
      ((await plain.json()) as Prediction).label_name,
      (await runBatch(handler, [NEWS_TEXTS[1]])).results[0].label_name,
    );
  });

  it('runs an async prediction: 202, then queued or processing, then succeeded with timings', async () => {
    const created = await stack.request(
      'POST',
      '/v1/predictions',
      { model: 'ag-news-bert', input: { data: NEWS_TEXTS } },
      auth,
    );
    assert.equal(created.status, 202);
    assert.match(created.body.status, /^(queued|processing|succeeded)$/);
    assert.equal(created.headers.get('location'), `/v1/predictions/${created.body.id}`);
    const done = await eventually('the prediction to succeed', async () => {
      const polled = await stack.request('GET', created.body.urls.get, undefined, auth);
      return polled.body.status === 'succeeded' ? polled.body : undefined;
    });
    assertSamePredictions(done.output, (await runBatch(handler, NEWS_TEXTS)).results);
    assert.ok(Date.parse(done.created_at) <= Date.parse(done.started_at));
    assert.ok(Date.parse(done.started_at) <= Date.parse(done.completed_at));
    assert.ok(done.metrics.inference_time_ms > 0);
    assert.ok(done.metrics.batch_size >= NEWS_TEXTS.length);
  });

  it('waits inline with Prefer: wait=N and includes probabilities when asked', async () => {
    const response = await stack.request(
      'POST',
      '/v1/predictions',
      {
        model: 'ag-news-bert',
        version: '1',
        probabilities: true,
        input: { data: [NEWS_TEXTS[2]] },
      },
      { ...auth, prefer: 'wait=10' },
    );
    assert.equal(response.status, 200);
    assert.equal(response.body.status, 'succeeded');
    assert.equal(response.body.output[0].probabilities.length, 4);
  });

  it('cancels a queued prediction and refuses to cancel a finished one', async () => {
    const queued = await stack.request(
      'POST',
      '/v1/predictions',
      { model: 'ag-news-bert', version: '2', input: { data: ['x y'] } },
      auth,
    );
    assert.equal(queued.body.status, 'queued');
    const canceled = await stack.request('POST', queued.body.urls.cancel, undefined, auth);
    assert.equal(canceled.status, 200);
    assert.equal(canceled.body.status, 'canceled');
    assert.equal(
      (await stack.request('GET', queued.body.urls.get, undefined, auth)).body.status,
      'canceled',
    );
    const again = await stack.request('POST', queued.body.urls.cancel, undefined, auth);
    assert.equal(again.status, 409);
  });

  it('answers 503 to a sync call on a version no worker serves', async () => {
    const response = await stack.request(
      'POST',
      '/predictions/ag-news-bert/2',
      { data: ['x'] },
      auth,
    );
    assert.equal(response.status, 503);
    assert.match(response.body.detail, /no live worker serves ag-news-bert version 2/);
  });

  it('returns the first prediction for a retried Idempotency-Key and refuses another body', async () => {
    const body = { model: 'ag-news-bert', input: { data: [NEWS_TEXTS[3]] } };
    const headers = { ...auth, 'idempotency-key': 'retry-me-1' };
    const first = await stack.request('POST', '/v1/predictions', body, headers);
    const second = await stack.request('POST', '/v1/predictions', body, headers);
    assert.equal(second.body.id, first.body.id);
    const other = await stack.request(
      'POST',
      '/v1/predictions',
      { ...body, input: { data: ['else'] } },
      headers,
    );
    assert.equal(other.status, 422);
    assert.equal(other.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  });

  it('fails a bad job alone while the jobs beside it succeed', async () => {
    const queue = stack.predictionQueue();
    const jobs = await Promise.all([
      queue.add('predict', { model: 'ag-news-bert', version: '1', texts: [NEWS_TEXTS[0]] }),
      queue.add('predict', {
        model: 'ag-news-bert',
        version: '1',
        texts: [42] as unknown as string[],
      }),
      queue.add('predict', { model: 'ag-news-bert', version: '1', texts: [NEWS_TEXTS[1]] }),
    ]);
    const states = await eventually('all three jobs to finish', async () => {
      const s = await Promise.all(jobs.map((j) => j.getState()));
      return s.every((x) => x === 'completed' || x === 'failed') ? s : undefined;
    });
    assert.deepEqual(states, ['completed', 'failed', 'completed']);
    assert.match(
      (await queue.getJob(jobs[1].id!))!.failedReason,
      /item 0 is not a non-empty string/,
    );
    assert.ok(stack.workers[0].running);
  });

  it('serves 32 concurrent clients correctly, in batches larger than one', async () => {
    const texts = Array.from({ length: 96 }, (_, i) =>
      NEWS_TEXTS[i % 4].repeat(1 + (i % 5)).slice(0, 40 + i * 7),
    );
    const expected = (await runBatch(handler, texts)).results;
    const batchSizes: number[] = [];
    await Promise.all(
      Array.from({ length: 32 }, async (_, client) => {
        for (let i = client; i < texts.length; i += 32) {
          const response = await stack.request(
            'POST',
            '/v1/predictions',
            { model: 'ag-news-bert', input: { data: [texts[i]] } },
            { ...auth, prefer: 'wait=30' },
          );
          assert.equal(response.body.status, 'succeeded');
          assertSamePredictions(response.body.output, [expected[i]]);
          batchSizes.push(response.body.metrics.batch_size);
        }
      }),
    );
    const mean = batchSizes.reduce((a, b) => a + b, 0) / batchSizes.length;
    assert.ok(mean > 1, `mean batch size ${mean}`);
  });
});
