import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { protoPath as HEALTH_PROTO } from 'grpc-health-check';
import { launchApi } from '../support/api-process';
import { GrpcTestClient } from '../support/grpc-client';
import { TestRedis } from '../support/redis-server';

const MODEL = 'ag-news-bert';
const API_KEY = 'compat-api-key-0123';

const inferBody = {
  inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], data: ['Stocks fall as rates rise'] }],
};
const grpcInfer = {
  model_name: MODEL,
  inputs: [
    {
      name: 'text',
      datatype: 'BYTES',
      shape: [1],
      contents: { bytes_contents: [Buffer.from('a')] },
    },
  ],
};

/**
 * The API alone, with an API key and no worker: what the protocol's health and readiness say
 * when nothing can answer, and which calls need the key, over REST and gRPC.
 */
describe('Open Inference Protocol: API key and readiness without a worker', () => {
  let redis: TestRedis;
  let launched: ReturnType<typeof launchApi>;
  let base: string;
  let address: string;
  const clients: GrpcTestClient[] = [];
  const grpcClient = (metadata?: Record<string, string>) => {
    const client = GrpcTestClient.openInference(address, metadata);
    clients.push(client);
    return client;
  };
  const get = async (path: string, headers: Record<string, string> = {}, body?: unknown) => {
    const response = await fetch(`${base}${path}`, {
      method: body ? 'POST' : 'GET',
      headers: body ? { 'content-type': 'application/json', ...headers } : headers,
      body: body ? JSON.stringify(body) : undefined,
    });
    return {
      status: response.status,
      type: response.headers.get('content-type') ?? '',
      body: (await response.json()) as any, // eslint-disable-line @typescript-eslint/no-explicit-any
    };
  };

  before(async () => {
    redis = await TestRedis.start();
    launched = launchApi(redis.url, { API_KEY });
    const ports = await launched.listening();
    assert.ok(ports.grpcPort > 0, 'the API listening line names the gRPC port it bound');
    assert.notEqual(ports.grpcPort, ports.port);
    base = `http://127.0.0.1:${ports.port}`;
    address = `127.0.0.1:${ports.grpcPort}`;
  });
  after(async () => {
    for (const client of clients) client.close();
    await launched?.stop();
    await redis?.stop();
  });

  it('REST health stays open; not ready is 400 with the reason', async () => {
    assert.deepEqual(await get('/v2/health/live'), {
      status: 200,
      type: 'application/json; charset=utf-8',
      body: { live: true },
    });
    const ready = await get('/v2/health/ready');
    assert.equal(ready.status, 400);
    assert.match(ready.body.error, /no live worker serves the default version of: ag-news-bert 1/);
  });

  it('REST metadata, readiness and inference need the key; the refusal is the protocol error', async () => {
    for (const [path, body] of [
      [`/v2/models/${MODEL}`],
      [`/v2/models/${MODEL}/ready`],
      [`/v2/models/${MODEL}/infer`, inferBody],
      ['/v2'],
    ] as const) {
      const refused = await get(path, {}, body);
      assert.equal(refused.status, 401, path);
      assert.deepEqual(Object.keys(refused.body), ['error']);
    }
    const key = { authorization: `Bearer ${API_KEY}` };
    assert.equal((await get(`/v2/models/${MODEL}`, key)).status, 200);
    assert.equal((await get(`/v2/models/${MODEL}`, { 'x-api-key': API_KEY })).status, 200);
    const modelReady = await get(`/v2/models/${MODEL}/versions/1/ready`, key);
    assert.equal(modelReady.status, 400);
    assert.match(modelReady.body.error, /no live worker serves ag-news-bert version 1/);
    const infer = await get(`/v2/models/${MODEL}/infer`, key, inferBody);
    assert.equal(infer.status, 503);
    assert.match(infer.body.error, /no live worker/);
  });

  it('control: outside /v2 the same refusal is problem+json', async () => {
    const refused = await get(`/predictions/${MODEL}`, {}, { data: ['a'] });
    assert.equal(refused.status, 401);
    assert.match(refused.type, /application\/problem\+json/);
  });

  it('gRPC: ServerLive, ServerReady and health are open; ready is false', async () => {
    const anonymous = grpcClient();
    assert.deepEqual(await anonymous.call('ServerLive'), { live: true });
    assert.deepEqual(await anonymous.call('ServerReady'), { ready: false });
    const health = new GrpcTestClient(address, HEALTH_PROTO, 'grpc.health.v1.Health');
    clients.push(health);
    assert.deepEqual(await health.call('Check', { service: '' }), { status: 'SERVING' });
    const torchServe = GrpcTestClient.torchServe(address);
    clients.push(torchServe);
    const ping = JSON.parse((await torchServe.call('Ping')).health as string);
    assert.equal(ping.status, 'Unhealthy');
  });

  it('gRPC: other methods need the key, from authorization or x-api-key metadata', async () => {
    for (const client of [grpcClient(), grpcClient({ authorization: 'Bearer wrong-key-0000' })]) {
      for (const method of ['ServerMetadata', 'ModelMetadata', 'ModelReady', 'ModelInfer']) {
        const error = await client.failure(method, { ...grpcInfer, name: MODEL });
        assert.equal(error.code, status.UNAUTHENTICATED, `${method}: ${error.details}`);
      }
    }
    for (const client of [
      grpcClient({ authorization: `Bearer ${API_KEY}` }),
      grpcClient({ 'x-api-key': API_KEY }),
    ]) {
      assert.equal((await client.call('ModelMetadata', { name: MODEL })).name, MODEL);
      assert.deepEqual(await client.call('ModelReady', { name: MODEL }), { ready: false });
      const error = await client.failure('ModelInfer', grpcInfer);
      assert.equal(error.code, status.UNAVAILABLE, error.details);
    }
  });

  it('SIGTERM stops the gRPC server with the API, which exits 0', async () => {
    const client = grpcClient();
    assert.equal(await launched.api.stop('SIGTERM'), 0);
    const error = await client.failure('ServerLive');
    assert.equal(error.code, status.UNAVAILABLE);
  });
});
