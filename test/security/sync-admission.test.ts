import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { commonSettings } from '@app/common';
import { ModelRegistry } from '@app/registry';
import { GrpcTestClient } from '../support/grpc-client';
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
    const queue = stack.predictionQueue();
    const queued = await queue.getWaitingCount();
    const response = await stack.request('POST', `/predictions/${MODEL}`, { data: TEXTS });
    assert.equal(response.status, 503, JSON.stringify(response.body));
    assert.match(response.headers.get('content-type') ?? '', /problem\+json/);
    assert.equal(response.body.estimated_wait_s, 4);
    assert.ok(Number(response.headers.get('retry-after')) >= 1);
    assert.equal(await queue.getWaitingCount(), queued, 'a shed call queues nothing');
    const metrics = await (await fetch(`${stack.metricsUrl}/metrics`)).text();
    assert.match(
      metrics,
      /modelfleet_shed_total\{model="ag-news-bert",version="1",kind="sync",reason="queue_wait"\} 1/,
    );
  });

  it('sheds the Open Inference Protocol calls alike: 503 over REST, UNAVAILABLE over gRPC', async () => {
    const queue = stack.predictionQueue();
    const queued = await queue.getWaitingCount();
    const inputs = [{ name: 'text', datatype: 'BYTES', shape: [TEXTS.length], data: TEXTS }];
    const rest = await stack.request('POST', `/v2/models/${MODEL}/infer`, { inputs });
    assert.equal(rest.status, 503, JSON.stringify(rest.body));
    assert.ok(Number(rest.headers.get('retry-after')) >= 1);
    const client = GrpcTestClient.openInference(stack.grpcAddress);
    try {
      const failure = await client.failure('ModelInfer', {
        model_name: MODEL,
        inputs: [
          {
            name: 'text',
            datatype: 'BYTES',
            shape: [TEXTS.length],
            contents: { bytes_contents: TEXTS.map((t) => Buffer.from(t)) },
          },
        ],
      });
      assert.equal(failure.code, status.UNAVAILABLE, failure.details);
      assert.ok(Number(failure.metadata.get('retry-after')[0]) >= 1);
    } finally {
      client.close();
    }
    assert.equal(await queue.getWaitingCount(), queued, 'no shed call queued anything');
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
