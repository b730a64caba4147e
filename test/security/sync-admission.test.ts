import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { commonSettings } from '@app/common';
import { ModelRegistry } from '@app/registry';
import { Stack } from '../support/stack';

const MODEL = 'ag-news-bert';
const TEXTS = Array.from({ length: 64 }, (_, i) => `Oil prices, text ${i}`);

/**
 * A stack whose version is held still: a worker that serves it and reports answering 64 texts a
 * second, but takes nothing (it is busy elsewhere), so every job stays queued and the wait the
 * API estimates is known exactly. The worker is its registry record alone: no process to stop.
 * Three async jobs of 64 texts wait: 3 s of work.
 */
async function heldStillStack(
  env: Record<string, string>,
): Promise<{ stack: Stack; redis: Redis }> {
  const stack = await Stack.start({ workers: 0, waitHealthy: false, env });
  const redis = new Redis(stack.redis.url);
  try {
    const registry = new ModelRegistry(redis, commonSettings.KEY_PREFIX.parse(undefined));
    await registry.heartbeat(
      {
        id: 'stalled-worker',
        host: 'test',
        pid: 0,
        device: 'cpu',
        versions: [`${MODEL}@1`],
        jobsInFlight: 1,
        throughput: { [`${MODEL}@1`]: 64 },
        startedAt: new Date().toISOString(),
      },
      600_000,
    );
    for (let i = 0; i < 3; i++) {
      const created = await stack.request('POST', '/v1/predictions', {
        model: MODEL,
        input: { data: TEXTS },
      });
      assert.equal(created.status, 202, JSON.stringify(created.body));
    }
    return { stack, redis };
  } catch (error) {
    redis.disconnect();
    await stack.stop();
    throw error;
  }
}

describe('an overloaded version answers a sync call it cannot answer in time with 503 at once', () => {
  let stack: Stack;
  let redis: Redis;

  before(async () => {
    ({ stack, redis } = await heldStillStack({ SYNC_TIMEOUT_MS: '3000', MAX_QUEUE_WAIT_S: '30' }));
  });

  after(async () => {
    redis?.disconnect();
    await stack?.stop();
  });

  it('control: a call behind 3 s of queued work, which SYNC_TIMEOUT_MS allows, is admitted', async () => {
    // Admitted, it waits; nothing answers it here, so it ends with the 504 of a timeout.
    const response = await stack.request('POST', `/predictions/${MODEL}`, { data: TEXTS });
    assert.equal(response.status, 504, JSON.stringify(response.body));
  });

  it('a call behind 4 s of queued work, more than SYNC_TIMEOUT_MS, gets 503 at once', async () => {
    const response = await stack.request('POST', `/predictions/${MODEL}`, { data: TEXTS });
    assert.equal(response.status, 503, JSON.stringify(response.body));
    assert.equal(response.body.estimated_wait_s, 4);
    assert.ok(Number(response.headers.get('retry-after')) >= 1);
  });
});

describe('MAX_QUEUE_WAIT_S=0 turns the shedding of sync calls off', () => {
  let stack: Stack;
  let redis: Redis;

  before(async () => {
    ({ stack, redis } = await heldStillStack({ SYNC_TIMEOUT_MS: '1000', MAX_QUEUE_WAIT_S: '0' }));
  });

  after(async () => {
    redis?.disconnect();
    await stack?.stop();
  });

  it('admits a call behind more work than SYNC_TIMEOUT_MS, which then times out', async () => {
    // 3 s of work queued and a 1 s timeout: shed with 503 above; admitted here, it ends in 504.
    const response = await stack.request('POST', `/predictions/${MODEL}`, { data: TEXTS });
    assert.equal(response.status, 504, JSON.stringify(response.body));
  });
});
