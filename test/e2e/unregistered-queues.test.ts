import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { demoModelStore } from '../support/model-store';
import { eventually } from '../support/processes';
import { Stack } from '../support/stack';
import { WebhookSink } from '../support/webhook-sink';
import { agNewsSample } from '../support/texts';

const MODEL = 'ag-news-bert';
/** Every key of version 2's queues (and of its jobs elsewhere) names it so. */
const V2 = `${MODEL}@2`;
const ROWS = 5;

/**
 * A version unregistered while jobs wait on its queues that no worker drains (no worker serves
 * it): before, they waited for ever, a `Prefer: wait` caller until its wait ran out, the async
 * prediction stayed queued, the batch ran for ever, and the version's queues stayed in Redis.
 * Control: against the build before this change, the waiting caller got a 202 `queued`.
 */
describe('the jobs a version left when it was unregistered, with no worker to drain them', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'modelfleet-data-'));
  const store = demoModelStore([{ version: '1' }, { version: '2' }]);
  let stack: Stack;
  let sink: WebhookSink;
  let redis: Redis;

  before(async () => {
    const texts = agNewsSample(ROWS);
    writeFileSync(
      join(dataDir, 'rows.jsonl'),
      texts.map((text) => JSON.stringify({ text })).join('\n') + '\n',
    );
    sink = await WebhookSink.start();
    stack = await Stack.start({
      modelStore: store,
      // RESULT_TTL_S at its least: the finished jobs go within the test.
      env: { MODELS: 'ag-news-bert-v1', DATA_DIR: dataDir, RESULT_TTL_S: '60' },
      // Version 2 is registered, and no worker ever serves it.
      workerEnv: { WORKER_MODELS: `${MODEL}@1` },
    });
    redis = new Redis(stack.redis.url);
  });

  after(async () => {
    redis?.disconnect();
    await stack?.stop();
    await sink?.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(store, { recursive: true, force: true });
  });

  it('ends each one once (the waiting caller and the webhook hear it), then its queues leave Redis', async () => {
    const registered = await stack.manage('POST', `/models?url=${MODEL}-v2`);
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    const body = { model: MODEL, version: '2', input: { data: ['Oil prices fell'] } };
    const queue = stack.predictionQueue(MODEL, '2');
    const waited = stack.request('POST', '/v1/predictions', body, { prefer: 'wait=30' });
    const created = await stack.request('POST', '/v1/predictions', {
      ...body,
      webhook: sink.url,
      webhook_events_filter: ['completed'],
    });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const batch = await stack.request('POST', '/v1/batches', {
      model: MODEL,
      version: '2',
      path: 'rows.jsonl',
      text: 'text',
    });
    assert.equal(batch.status, 202, JSON.stringify(batch.body));
    await eventually('both predictions to wait on the queue', async () =>
      (await queue.getWaitingCount()) === 2 ? true : undefined,
    );

    const removed = await stack.manage('DELETE', `/models/${MODEL}/2`);
    assert.equal(removed.status, 200, JSON.stringify(removed.body));

    // The caller waiting hears the failure, within its wait.
    const answer = await waited;
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.status, 'failed');
    assert.match(answer.body.error, /version_unregistered/);
    const polled = await eventually('the async prediction to fail', async () => {
      const read = await stack.request('GET', `/v1/predictions/${created.body.id}`);
      return read.body.status === 'failed' ? read.body : undefined;
    });
    assert.match(polled.error, /version_unregistered/);
    const hook = await eventually('its webhook', () =>
      sink.received.map((r) => JSON.parse(r.body)).find((b) => b.type === 'prediction.completed'),
    );
    assert.equal(hook.data.id, created.body.id);
    assert.equal(hook.data.status, 'failed');
    const done = await stack.batchFinished(batch.body.id);
    assert.equal(done.counts.failed, ROWS, JSON.stringify(done));
    assert.equal(done.counts.pending, 0, JSON.stringify(done));

    // Each ended once: one failure each in the queue's events.
    const events = await redis.xrange(`mf:predict-{${V2}}:events`, '-', '+');
    const failedIds = events
      .map(([, fields]) => fields)
      .filter((fields) => fields[fields.indexOf('event') + 1] === 'failed')
      .map((fields) => fields[fields.indexOf('jobId') + 1]);
    assert.equal(failedIds.length, 2, JSON.stringify(failedIds));
    assert.equal(new Set(failedIds).size, 2);

    // Readable for RESULT_TTL_S; then nothing of the version is left in Redis (its queues, its
    // jobs' webhook deliveries and records), but the registry's note that it was unregistered.
    await eventually(
      'every key of version 2 to leave Redis',
      async () => {
        const left = (await redis.keys('*')).filter((key) => key.includes(V2));
        return left.length === 0 ? true : undefined;
      },
      180_000,
      1000,
    );
    assert.ok(await redis.hexists('mf:{registry}:unregistered', V2));
  });
});
