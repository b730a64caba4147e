import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { Stack } from '../support/stack';

const create = (stack: Stack, text: string) =>
  stack.request('POST', '/v1/predictions', {
    model: 'ag-news-bert',
    input: { data: [text] },
  });

describe('load shedding', () => {
  let stack: Stack;
  let redis: Redis;

  before(async () => {
    // No worker: jobs stay queued, so the queue fills.
    stack = await Stack.start({ workers: 0, waitHealthy: false, env: { MAX_QUEUED_JOBS: '3' } });
    redis = new Redis(stack.redis.url);
  });

  after(async () => {
    redis?.disconnect();
    await stack?.stop();
  });

  it('accepts async creates up to MAX_QUEUED_JOBS queued jobs (the control)', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await create(stack, `text ${i}`)).status, 202);
  });

  it('then refuses them with 429, Retry-After and problem+json, queuing nothing', async () => {
    const queue = stack.predictionQueue();
    const refused = await create(stack, 'one too many');
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    assert.match(refused.headers.get('content-type') ?? '', /problem\+json/);
    assert.equal(await queue.getWaitingCount(), 3);
    const metrics = await (await fetch(`${stack.metricsUrl}/metrics`)).text();
    assert.match(
      metrics,
      /modelfleet_shed_total\{model="ag-news-bert",version="1",kind="async",reason="queue_full"\} 1/,
    );
  });
});
