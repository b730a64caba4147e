import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Stack } from '../support/stack';
import { agNewsSample } from '../support/texts';

const TEXTS = agNewsSample(3);

/**
 * REDIS_ACK_REPLICAS asks more replicas than the Redis has (none): every way of creating work is
 * refused with a 503 problem that says why, and the API keeps answering. (The failover suite
 * shows the setting met: jobs accepted, none lost.)
 */
describe('REDIS_ACK_REPLICAS=1 on a Redis without replicas', () => {
  let stack: Stack;

  before(async () => {
    stack = await Stack.start({
      env: { REDIS_ACK_REPLICAS: '1', REDIS_ACK_TIMEOUT_MS: '100' },
    });
  });
  after(async () => {
    await stack?.stop();
  });

  function assertNotReplicated(response: Awaited<ReturnType<Stack['request']>>) {
    assert.equal(response.status, 503, JSON.stringify(response.body));
    assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.equal(response.body.type, 'https://modelfleet.dev/problems/not-replicated');
    assert.equal(response.body.replicas_wanted, 1);
    assert.equal(response.body.replicas_acknowledged, 0);
    assert.match(response.body.detail, /0 of the 1 Redis replicas asked for acknowledged the job/);
    assert.ok(Number(response.headers.get('retry-after')) >= 1);
  }

  it('refuses an async create with 503 Not replicated', async () => {
    const response = await stack.request('POST', '/v1/predictions', {
      model: 'ag-news-bert',
      input: { data: TEXTS },
    });
    assertNotReplicated(response);
  });

  it('refuses a sync call with 503 Not replicated', async () => {
    assertNotReplicated(await stack.request('POST', '/predictions/ag-news-bert', { data: TEXTS }));
  });

  it('refuses a batch with 503 Not replicated', async () => {
    const body = TEXTS.map((text, i) => JSON.stringify({ uid: `row-${i}`, text })).join('\n');
    const response = await stack.request(
      'POST',
      '/v1/batches?model=ag-news-bert&text=text&id=uid',
      body,
      { 'content-type': 'application/x-ndjson' },
    );
    assertNotReplicated(response);
  });

  it('still answers what needs no acknowledgement (the control)', async () => {
    const models = await stack.request('GET', '/ping');
    assert.equal(models.status, 200, JSON.stringify(models.body));
    assert.ok(stack.api.running);
  });
});
