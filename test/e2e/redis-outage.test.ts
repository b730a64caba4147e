import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { protoPath as HEALTH_PROTO } from 'grpc-health-check';
import { GrpcTestClient } from '../support/grpc-client';
import { eventually } from '../support/processes';
import { TestRedis } from '../support/redis-server';
import { Stack } from '../support/stack';

/** Calls that need Redis, each answered rather than left hanging while Redis is away. */
const CALLS = [
  ['GET', '/ping', undefined],
  ['GET', '/readyz', undefined],
  ['POST', '/predictions/ag-news-bert', { data: ['Oil prices surge'] }],
  ['POST', '/v1/predictions', { model: 'ag-news-bert', input: { data: ['Oil prices surge'] } }],
] as const;

describe('Redis unreachable', () => {
  let redis: TestRedis;
  let stack: Stack;

  before(async () => {
    redis = await TestRedis.start();
    stack = await Stack.start({ redis });
  });

  after(async () => {
    process.kill(redis.pid, 'SIGCONT');
    await stack?.stop();
  });

  const call = (method: string, path: string, body?: unknown) =>
    fetch(`${stack.apiUrl}${path}`, {
      method,
      headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
      // A hang fails the test; an answer of any kind ends the call.
      signal: AbortSignal.timeout(10_000),
    });

  it('control: with Redis up, every call is answered normally', async () => {
    for (const [method, path, body] of CALLS) {
      const response = await call(method, path, body);
      assert.ok(response.status < 300, `${method} ${path}: ${response.status}`);
    }
  });

  it('answers 503 problem+json with Retry-After while Redis hangs, and recovers by itself', async () => {
    const accepted = await stack.request('POST', '/v1/predictions', {
      model: 'ag-news-bert',
      input: { data: ['Accepted just before the outage'] },
    });
    assert.equal(accepted.status, 202);
    process.kill(redis.pid, 'SIGSTOP');
    try {
      for (const [method, path, body] of CALLS) {
        const response = await call(method, path, body);
        assert.equal(response.status, 503, `${method} ${path}`);
        assert.match(response.headers.get('content-type') ?? '', /problem\+json/);
        assert.ok(Number(response.headers.get('retry-after')) > 0, `${method} ${path}`);
      }
    } finally {
      process.kill(redis.pid, 'SIGCONT');
    }
    await eventually('the API to be healthy again', async () =>
      (await call('GET', '/ping')).status === 200 ? true : undefined,
    );
    const done = await eventually('the job accepted before the outage to finish', async () => {
      const view = await stack.request('GET', accepted.body.urls.get);
      return view.body.status === 'succeeded' ? view.body : undefined;
    });
    assert.equal(done.output.length, 1);
    const sync = await call('POST', '/predictions/ag-news-bert', { data: ['Back to normal'] });
    assert.equal(sync.status, 200);
  });

  it('gRPC health follows Redis as /readyz does: NOT_SERVING while Redis hangs, SERVING once it is back', async () => {
    const health = new GrpcTestClient(stack.grpcAddress, HEALTH_PROTO, 'grpc.health.v1.Health');
    const check = async () =>
      ((await health.call('Check', { service: '' })) as { status: string }).status;
    try {
      // Control: SERVING while Redis answers, so the NOT_SERVING below is Redis's doing.
      assert.equal(await check(), 'SERVING');
      process.kill(redis.pid, 'SIGSTOP');
      try {
        await eventually('gRPC health to say NOT_SERVING', async () =>
          (await check()) === 'NOT_SERVING' ? true : undefined,
        );
        const service = 'inference.GRPCInferenceService';
        assert.deepEqual(await health.call('Check', { service }), { status: 'NOT_SERVING' });
        assert.equal((await call('GET', '/readyz')).status, 503);
      } finally {
        process.kill(redis.pid, 'SIGCONT');
      }
      await eventually('gRPC health to say SERVING again', async () =>
        (await check()) === 'SERVING' ? true : undefined,
      );
    } finally {
      health.close();
    }
  });
});
