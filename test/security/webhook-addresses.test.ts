import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { Stack } from '../support/stack';
import { WebhookSink } from '../support/webhook-sink';

/** Keys a refused request could have left: everything but the webhook consumer's own bookkeeping. */
async function dataKeys(redis: Redis): Promise<string[]> {
  return (await redis.keys('*')).filter((k) => !k.includes(':webhooks:')).sort();
}

describe('webhook address guard, end to end', () => {
  let stack: Stack;
  let sink: WebhookSink;
  let redis: Redis;

  before(async () => {
    sink = await WebhookSink.start();
    // No operator exception: only what the policy itself allows may receive webhooks.
    stack = await Stack.start({
      env: { WEBHOOK_ALLOWED_HOSTS: '' },
      workers: 0,
      waitHealthy: false,
    });
    redis = new Redis(stack.redis.url);
  });

  after(async () => {
    redis.disconnect();
    await stack?.stop();
    await sink?.close();
  });

  const create = (webhook: string) =>
    stack.request('POST', '/v1/predictions', {
      model: 'ag-news-bert',
      input: { data: ['Stocks rally on strong earnings'] },
      webhook,
    });

  it('refuses a receiver on this host in every textual form, creating nothing', async () => {
    const port = new URL(sink.url).port;
    const hosts = [
      '[::127.0.0.1]', // IPv4-compatible, the form that used to pass
      '[::7f00:1]',
      '[::ffff:127.0.0.1]', // IPv4-mapped
      '[64:ff9b::127.0.0.1]', // NAT64
      '[2002:7f00:1::]', // 6to4
      '2130706433', // decimal
      '0177.0.0.1', // octal
      '0x7f.1', // hex, short
      '127.1', // short
      'localhost',
      '[::1]',
      '169.254.169.254', // cloud metadata
    ];
    const before = await dataKeys(redis);
    for (const host of hosts) {
      const response = await create(`http://${host}:${port}/hook`);
      assert.equal(response.status, 422, `${host}: ${JSON.stringify(response.body)}`);
      assert.match(response.headers.get('content-type') ?? '', /application\/problem\+json/);
      assert.equal(response.body.status, 422);
    }
    // A zone id does not even make a valid URL: refused as a bad field.
    const zone = await create(`http://[fe80::1%25lo]:${port}/hook`);
    assert.equal(zone.status, 400, JSON.stringify(zone.body));
    assert.equal(zone.body.errors?.[0]?.pointer, '#/webhook');
    assert.deepEqual(await dataKeys(redis), before, 'a refused request wrote to Redis');
    assert.deepEqual(sink.received, [], 'the receiver got a request');
    const counts = await stack.predictionQueue().getJobCounts('waiting', 'prioritized');
    assert.equal(counts.waiting + counts.prioritized, 0, 'a refused prediction was queued');
  });

  // Control: a public unicast address passes the same guard, so the refusals above are its doing.
  it('accepts a receiver on a public unicast address', async () => {
    const response = await create('http://93.184.215.14/hook');
    assert.equal(response.status, 202, JSON.stringify(response.body));
    const counts = await stack.predictionQueue().getJobCounts('waiting', 'prioritized');
    assert.equal(counts.waiting + counts.prioritized, 1);
  });
});
