import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { openModel, type Handler, type Prediction } from '@app/handler';
import { runBatch } from '../support/run-batch';
import { demoModelStore } from '../support/model-store';
import { DEMO_MODEL } from '../support/paths';
import { eventually } from '../support/processes';
import { Stack } from '../support/stack';
import { WebhookSink } from '../support/webhook-sink';

const API_KEY = 'test-api-key-123';
const auth = { authorization: `Bearer ${API_KEY}` };
const TEXTS = [
  'The Yankees beat the Red Sox 5-3 on a walk-off homer in the ninth inning.',
  'Oil prices jumped after OPEC agreed to cut output.',
  'Microsoft releases a security patch for Windows.',
  'Peace talks resume in the Middle East as leaders meet in Cairo.',
];

/** Same label, and probabilities equal up to float noise of different batch shapes. */
function assertSamePredictions(actual: Prediction[], expected: Prediction[]): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((a, i) => {
    assert.equal(a.label, expected[i].label, `text ${i} label`);
    assert.equal(a.label_name, expected[i].label_name);
    assert.ok(Math.abs(a.probability - expected[i].probability) < 1e-5, `text ${i} probability`);
  });
}

describe('queue pipeline, end to end', () => {
  let stack: Stack;
  let handler: Handler<Prediction>;
  let sink: WebhookSink;

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
    sink = await WebhookSink.start();
  });
  after(async () => {
    await stack?.stop();
    await handler?.dispose();
    await sink?.close();
  });

  it('answers a sync request like the handler itself, in input order', async () => {
    const response = await stack.request(
      'POST',
      '/predictions/ag-news-bert/1',
      { data: TEXTS },
      auth,
    );
    assert.equal(response.status, 200);
    const expected = (await runBatch(handler, TEXTS)).results;
    assertSamePredictions(response.body, expected);
  });

  it('accepts a bare JSON string and text/plain, answering a single object', async () => {
    const bare = await stack.request(
      'POST',
      '/predictions/ag-news-bert',
      JSON.stringify(TEXTS[0]),
      auth,
    );
    assert.equal(bare.status, 200);
    assert.equal(bare.body.label_name, (await runBatch(handler, [TEXTS[0]])).results[0].label_name);
    const plain = await fetch(`${stack.apiUrl}/predictions/ag-news-bert`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', ...auth },
      body: TEXTS[1],
    });
    assert.equal(plain.status, 200);
    assert.equal(
      ((await plain.json()) as Prediction).label_name,
      (await runBatch(handler, [TEXTS[1]])).results[0].label_name,
    );
  });

  it('runs an async prediction: 202, then queued or processing, then succeeded with timings', async () => {
    const created = await stack.request(
      'POST',
      '/v1/predictions',
      { model: 'ag-news-bert', input: { data: TEXTS } },
      auth,
    );
    assert.equal(created.status, 202);
    assert.match(created.body.status, /^(queued|processing|succeeded)$/);
    assert.equal(created.headers.get('location'), `/v1/predictions/${created.body.id}`);
    const done = await eventually('the prediction to succeed', async () => {
      const polled = await stack.request('GET', created.body.urls.get, undefined, auth);
      return polled.body.status === 'succeeded' ? polled.body : undefined;
    });
    assertSamePredictions(done.output, (await runBatch(handler, TEXTS)).results);
    assert.ok(Date.parse(done.created_at) <= Date.parse(done.started_at));
    assert.ok(Date.parse(done.started_at) <= Date.parse(done.completed_at));
    assert.ok(done.metrics.inference_time_ms > 0);
    assert.ok(done.metrics.batch_size >= TEXTS.length);
  });

  it('waits inline with Prefer: wait=N and includes probabilities when asked', async () => {
    const response = await stack.request(
      'POST',
      '/v1/predictions',
      { model: 'ag-news-bert', version: '1', probabilities: true, input: { data: [TEXTS[2]] } },
      { ...auth, prefer: 'wait=10' },
    );
    assert.equal(response.status, 200);
    assert.equal(response.body.status, 'succeeded');
    assert.equal(response.body.output[0].probabilities.length, 4);
  });

  it('delivers a signed webhook on completion that verifies with the shared secret', async () => {
    const created = await stack.request(
      'POST',
      '/v1/predictions',
      {
        model: 'ag-news-bert',
        input: { data: TEXTS },
        webhook: sink.url,
        webhook_events_filter: ['start', 'completed'],
      },
      auth,
    );
    assert.equal(created.status, 202);
    const delivery = await eventually('the completed webhook', () =>
      sink.received.find(
        (r) =>
          JSON.parse(r.body).type === 'prediction.completed' &&
          JSON.parse(r.body).data.id === created.body.id,
      ),
    );
    const verified = new Webhook(stack.webhookSecret).verify(
      delivery.body,
      delivery.headers as Record<string, string>,
    ) as {
      data: { status: string; output: Prediction[] };
    };
    assert.equal(verified.data.status, 'succeeded');
    assertSamePredictions(verified.data.output, (await runBatch(handler, TEXTS)).results);
    assert.ok(sink.received.some((r) => JSON.parse(r.body).type === 'prediction.start'));
    assert.throws(() =>
      new Webhook(stack.webhookSecret).verify(
        delivery.body.replace('succeeded', 'failed'),
        delivery.headers as Record<string, string>,
      ),
    );
    const polled = await eventually('the delivery state', async () => {
      const view = await stack.request('GET', created.body.urls.get, undefined, auth);
      return view.body.webhook?.status === 'delivered' ? view.body : undefined;
    });
    assert.ok(polled.webhook.attempts >= 1);
  });

  it('retries a failing webhook receiver, then leaves a dead letter', async () => {
    const failing = await WebhookSink.start();
    failing.status = () => 500;
    const created = await stack.request(
      'POST',
      '/v1/predictions',
      { model: 'ag-news-bert', input: { data: [TEXTS[0]] }, webhook: failing.url },
      auth,
    );
    const view = await eventually('the dead letter', async () => {
      const polled = await stack.request('GET', created.body.urls.get, undefined, auth);
      return polled.body.webhook?.status === 'dead_letter' ? polled.body : undefined;
    });
    assert.equal(view.webhook.attempts, 3);
    assert.equal(failing.received.length, 3);
    assert.equal(view.webhook.last_status_code, 500);
    await failing.close();
  });

  it('does not follow a redirect from a webhook receiver', async () => {
    const redirecting = await WebhookSink.start();
    redirecting.status = () => 302;
    redirecting.headers = { location: sink.url };
    const before = sink.received.length;
    const created = await stack.request(
      'POST',
      '/v1/predictions',
      { model: 'ag-news-bert', input: { data: [TEXTS[1]] }, webhook: redirecting.url },
      auth,
    );
    const view = await eventually('the redirected delivery to end', async () => {
      const polled = await stack.request('GET', created.body.urls.get, undefined, auth);
      return polled.body.webhook?.status === 'dead_letter' ? polled.body : undefined;
    });
    assert.equal(view.webhook.last_status_code, 302);
    assert.equal(redirecting.received.length, 3);
    assert.ok(
      sink.received.slice(before).every((r) => JSON.parse(r.body).data.id !== created.body.id),
      'the redirect target received nothing',
    );
    await redirecting.close();
  });

  it('refuses a webhook URL on a private address that the allow-list does not admit', async () => {
    const refused = await stack.request(
      'POST',
      '/v1/predictions',
      { model: 'ag-news-bert', input: { data: ['x'] }, webhook: 'http://10.1.2.3/hook' },
      auth,
    );
    assert.equal(refused.status, 422);
    assert.match(refused.body.detail, /private/);
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
    const body = { model: 'ag-news-bert', input: { data: [TEXTS[3]] } };
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
      queue.add('predict', { model: 'ag-news-bert', version: '1', texts: [TEXTS[0]] }),
      queue.add('predict', {
        model: 'ag-news-bert',
        version: '1',
        texts: [42] as unknown as string[],
      }),
      queue.add('predict', { model: 'ag-news-bert', version: '1', texts: [TEXTS[1]] }),
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
      TEXTS[i % 4].repeat(1 + (i % 5)).slice(0, 40 + i * 7),
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

describe('inference API input errors', () => {
  let stack: Stack;

  before(async () => {
    stack = await Stack.start({
      env: { API_KEY, MAX_TEXTS_PER_REQUEST: '4', MAX_BODY_BYTES: '2048', SYNC_TIMEOUT_MS: '1500' },
    });
  });
  after(() => stack?.stop());

  const cases: [string, string | object, number, RegExp][] = [
    ['malformed JSON', '{"data": [', 400, /JSON/],
    ['missing data', { text: 'x' }, 400, /data/],
    ['empty data', { data: [] }, 400, /empty/],
    ['non-string items', { data: ['ok', 7, null] }, 400, /2 item\(s\)/],
    ['too many items', { data: ['a', 'b', 'c', 'd', 'e'] }, 413, /limit is 4/],
    ['a body over the size limit', { data: ['x'.repeat(5000)] }, 413, /2048 bytes/],
  ];
  for (const [what, body, status, detail] of cases) {
    it(`answers ${status} problem+json to ${what}`, async () => {
      const response = await stack.request('POST', '/predictions/ag-news-bert', body, auth);
      assert.equal(response.status, status);
      assert.equal(response.headers.get('content-type'), 'application/problem+json; charset=utf-8');
      assert.equal(response.body.status, status);
      assert.ok(response.body.title);
      assert.match(response.body.detail, detail);
    });
  }

  it('answers 404 to an unknown model or version', async () => {
    const model = await stack.request('POST', '/predictions/no-such-model', { data: ['x'] }, auth);
    assert.equal(model.status, 404);
    const version = await stack.request(
      'POST',
      '/v1/predictions',
      { model: 'ag-news-bert', version: '9', input: { data: ['x'] } },
      auth,
    );
    assert.equal(version.status, 404);
    assert.match(version.body.detail, /no version "9"/);
  });

  it('answers 400 to an async body with unknown or missing fields', async () => {
    const response = await stack.request(
      'POST',
      '/v1/predictions',
      { model: 'ag-news-bert', inputs: [] },
      auth,
    );
    assert.equal(response.status, 400);
    assert.ok(response.body.errors.length > 0);
  });

  it('answers 401 without the API key, and ping stays open', async () => {
    const response = await stack.request('POST', '/predictions/ag-news-bert', { data: ['x'] });
    assert.equal(response.status, 401);
    assert.equal((await stack.request('GET', '/ping')).status, 200);
  });

  it('answers 404 to an unknown prediction id', async () => {
    const response = await stack.request('GET', '/v1/predictions/does-not-exist', undefined, auth);
    assert.equal(response.status, 404);
  });

  it('answers 504 with the job id past the sync timeout, and the job can still be polled', async () => {
    // A worker killed outright still counts as live until its heartbeat expires: the job waits.
    stack.workers[0].child.kill('SIGKILL');
    await stack.workers[0].waitForExit();
    const response = await stack.request(
      'POST',
      '/predictions/ag-news-bert',
      { data: ['Late answer'] },
      auth,
    );
    assert.equal(response.status, 504);
    assert.match(response.body.detail, /no answer within 1500 ms/);
    assert.equal(response.body.url, `/v1/predictions/${response.body.id}`);
    stack.addWorker();
    const done = await eventually('the timed-out prediction to succeed', async () => {
      const polled = await stack.request('GET', response.body.url, undefined, auth);
      return polled.body.status === 'succeeded' ? polled.body : undefined;
    });
    assert.equal(done.output.length, 1);
  });
});
