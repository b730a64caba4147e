import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { openModel, type Handler, type Prediction } from '@app/handler';
import { runBatch } from '../support/run-batch';
import { DEMO_MODEL } from '../support/paths';
import { NEWS_TEXTS, assertSamePredictions } from '../support/predictions';
import { eventually } from '../support/processes';
import { Stack } from '../support/stack';
import { WebhookSink } from '../support/webhook-sink';

const API_KEY = 'test-api-key-123';
const auth = { authorization: `Bearer ${API_KEY}` };

/** Webhooks of async predictions, delivered by the API to a local receiver. */
describe('prediction webhooks, end to end', () => {
  let stack: Stack;
  let handler: Handler<Prediction>;
  let sink: WebhookSink;

  before(async () => {
    stack = await Stack.start({ env: { API_KEY } });
    handler = (await openModel(DEMO_MODEL, { device: 'cpu' })).handler as Handler<Prediction>;
    sink = await WebhookSink.start();
  });
  after(async () => {
    await stack?.stop();
    await handler?.dispose();
    await sink?.close();
  });

  it('delivers a signed webhook on completion that verifies with the shared secret', async () => {
    const created = await stack.request(
      'POST',
      '/v1/predictions',
      {
        model: 'ag-news-bert',
        input: { data: NEWS_TEXTS },
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
    assertSamePredictions(verified.data.output, (await runBatch(handler, NEWS_TEXTS)).results);
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
      { model: 'ag-news-bert', input: { data: [NEWS_TEXTS[0]] }, webhook: failing.url },
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
      { model: 'ag-news-bert', input: { data: [NEWS_TEXTS[1]] }, webhook: redirecting.url },
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
});
