import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { batchParentQueueName, commonSettings } from '@app/common';
import { eventually } from '../support/processes';
import { MANAGEMENT_TOKEN, Stack } from '../support/stack';

/**
 * Keys a request can leave, less the bookkeeping of the API's own queue consumers and what
 * BullMQ's workers set and drop on their own (a queue's marker, its stalled-job check).
 */
async function dataKeys(redis: Redis): Promise<string[]> {
  return (await redis.keys('*'))
    .filter((k) => !/:(webhooks|batches):/.test(k) && !/:(marker|stalled-check)$/.test(k))
    .sort();
}

/**
 * Waits until the version's queues hold no job still to run or running: work accepted by an
 * earlier request has finished, so the keys change next only by what the next request writes
 * (a job finishing meanwhile drops its lock and the queue's active list).
 */
async function settled(queues: Queue[]): Promise<void> {
  await eventually('the work accepted so far to finish', async () => {
    const counts = await Promise.all(
      queues.map((q) =>
        q.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children', 'paused'),
      ),
    );
    return counts.every((c) => Object.values(c).every((n) => n === 0)) || undefined;
  });
}

const MODEL = 'ag-news-bert';

/** Path segments: real names, their mutations, and anything at all. */
const segment = fc.oneof(
  fc.constantFrom(MODEL, '1', 'ag-news-bert@1', '..', '%2e%2e', '%00', 'ä', ' '),
  fc.string({ maxLength: 12 }).map((s) => encodeURIComponent(s)),
  fc.constantFrom(MODEL).chain((m) => fc.nat(m.length).map((i) => m.slice(0, i) + 'x')),
);
const id = fc.oneof(
  segment,
  fc.uuid().map((u) => `${MODEL}@1.${u}`),
  fc.tuple(segment, segment, fc.uuid()).map(([m, v, u]) => `${m}@${v}.${u}`),
);

/** Bodies: JSON of any shape, mutated valid ones, nested up to 100,000 deep, and raw bytes. */
const json = fc.jsonValue({ maxDepth: 3 });
const deep = fc
  .integer({ min: 1, max: 100_000 })
  .map((depth) => `${'['.repeat(depth)}"Oil prices"${']'.repeat(depth)}`);
const tensor = fc.record({
  name: fc.constantFrom('text', 'x'),
  datatype: fc.constantFrom('BYTES', 'FP32'),
  shape: fc.array(fc.integer({ min: -2, max: 3 }), { maxLength: 3 }),
  data: json,
});
const V2_BODY = '{"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": %s}]}';
const body = fc.oneof(
  json.map((v) => JSON.stringify(v)),
  json.map((v) => JSON.stringify({ data: v })),
  json.map((v) => JSON.stringify({ model: MODEL, input: { data: v } })),
  fc.array(tensor, { maxLength: 2 }).map((inputs) => JSON.stringify({ inputs })),
  {
    weight: 4,
    arbitrary: fc
      .tuple(deep, fc.constantFrom('%s', '{"data": %s}', V2_BODY, V2_BODY, V2_BODY))
      .map(([data, wrapper]) => wrapper.replace('%s', data)),
  },
  fc
    .record(
      { model: fc.oneof(segment, json), input: json, webhook: json, probabilities: json },
      { requiredKeys: [] },
    )
    .map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 200 }),
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
);

/** JSON most often: the bodies above are JSON, and only a JSON body reaches most routes' checks. */
const contentType = fc.oneof(
  { weight: 3, arbitrary: fc.constant('application/json') },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'application/json; charset=utf-16',
      'text/plain',
      'text/csv',
      'application/x-ndjson',
      'multipart/form-data; boundary=x',
      'application/x-www-form-urlencoded',
      'application/octet-stream',
      '',
      'garbage/;;;',
    ),
  },
);
const query = fc.dictionary(
  fc.constantFrom(
    'probabilities',
    'model',
    'text',
    'format',
    'url',
    'batch_size',
    'min_worker',
    'max_worker',
    'x',
  ),
  fc.oneof(segment, fc.integer().map(String)),
  { maxKeys: 4 },
);
const headers = fc.record(
  {
    'content-type': contentType,
    'content-encoding': fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'zz'),
    prefer: fc.oneof(fc.constantFrom('wait=1', 'wait=-1', 'wait=99999999999'), fc.string()),
    'idempotency-key': fc.string({ maxLength: 300 }),
  },
  { requiredKeys: [] },
);

interface Route {
  method: string;
  path: (s: string, v: string, i: string) => string;
}

const INFERENCE: Route[] = [
  { method: 'POST', path: (s) => `/predictions/${s}` },
  { method: 'PUT', path: (s, v) => `/predictions/${s}/${v}` },
  { method: 'POST', path: () => '/v1/predictions' },
  { method: 'GET', path: (_s, _v, i) => `/v1/predictions/${i}` },
  { method: 'POST', path: (_s, _v, i) => `/v1/predictions/${i}/cancel` },
  { method: 'POST', path: () => '/v1/batches' },
  { method: 'GET', path: (_s, _v, i) => `/v1/batches/${i}` },
  { method: 'POST', path: (_s, _v, i) => `/v1/batches/${i}/cancel` },
  { method: 'GET', path: (_s, _v, i) => `/v1/batches/${i}/results` },
  { method: 'GET', path: (_s, _v, i) => `/v1/batches/${i}/errors` },
  { method: 'POST', path: (s) => `/v2/models/${s}/infer` },
  { method: 'POST', path: (s, v) => `/v2/models/${s}/versions/${v}/infer` },
  { method: 'GET', path: (s) => `/${s}` },
];

/** Management routes; a fuzzed request never names the real model where it could change it. */
const MANAGEMENT: Route[] = [
  { method: 'GET', path: () => '/models' },
  { method: 'POST', path: () => '/models' },
  { method: 'GET', path: (s) => `/models/${s}` },
  { method: 'GET', path: (s, v) => `/models/${s}/${v}` },
  { method: 'GET', path: (s, v) => `/models/${s}/all/${v}` },
  { method: 'PUT', path: (s) => `/models/${s}x` },
  { method: 'PUT', path: (s) => `/models/${s}x/traffic` },
  { method: 'PUT', path: (s) => `/models/${s}x/shadow` },
  { method: 'DELETE', path: (s) => `/models/${s}x/shadow` },
  { method: 'PUT', path: (s, v) => `/models/${s}x/${v}/set-default` },
  { method: 'PUT', path: (s, v) => `/models/${s}x/${v}` },
  { method: 'DELETE', path: (s, v) => `/models/${s}x/${v}` },
];

describe('property: hostile requests at every route', () => {
  let stack: Stack;
  let redis: Redis;
  let queues: Queue[];

  before(async () => {
    stack = await Stack.start();
    redis = new Redis(stack.redis.url);
    const batches = new Queue(batchParentQueueName(MODEL, '1'), {
      connection: { url: stack.redis.url },
      prefix: commonSettings.KEY_PREFIX.parse(stack.environment.KEY_PREFIX),
    });
    queues = [stack.predictionQueue(), stack.bulkQueue(), batches];
    // Warm up: the version's queues exist, so a later read of them is not a first write.
    const warm = await stack.request('POST', `/predictions/${MODEL}`, { data: ['Oil prices'] });
    assert.equal(warm.status, 200);
  });

  after(async () => {
    await queues?.[2].close();
    redis?.disconnect();
    await stack?.stop();
  });

  for (const [name, routes, base, auth] of [
    ['inference', INFERENCE, () => stack.apiUrl, {}],
    [
      'management',
      MANAGEMENT,
      () => stack.managementUrl,
      { authorization: `Bearer ${MANAGEMENT_TOKEN}` },
    ],
  ] as const) {
    it(`${name}: never a 500, errors are problem+json, a refusal writes nothing`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...routes),
          segment,
          segment,
          id,
          query,
          headers,
          body,
          fc.boolean(),
          async (route, s, v, i, q, h, b, withAuth) => {
            await settled(queues);
            const keys = await dataKeys(redis);
            const url = new URL(`${base()}${route.path(s, v, i)}`);
            for (const [k, value] of Object.entries(q)) url.searchParams.set(k, value);
            const response = await fetch(url, {
              method: route.method,
              headers: { ...h, ...(withAuth ? auth : {}) },
              body: route.method === 'GET' ? undefined : b,
            });
            const text = await response.text();
            assert.ok(
              response.status < 500 || response.status === 503,
              `${response.status} ${text}`,
            );
            if (response.status >= 400 && url.pathname.startsWith('/v2/')) {
              // The Open Inference Protocol's own error form.
              assert.equal(typeof JSON.parse(text).error, 'string', text);
              assert.deepEqual(
                await dataKeys(redis),
                keys,
                `${route.method} ${url.href} wrote keys`,
              );
            } else if (response.status >= 400) {
              assert.match(
                response.headers.get('content-type') ?? '',
                /application\/problem\+json/,
              );
              assert.equal(JSON.parse(text).status, response.status);
              assert.deepEqual(
                await dataKeys(redis),
                keys,
                `${route.method} ${url.href} wrote keys`,
              );
            }
          },
        ),
        { numRuns: 300 },
      );
      assert.equal((await fetch(`${stack.apiUrl}/ping`)).status, 200);
    });
  }

  it('control: the same checks see a write, and a 4xx that is not problem+json', async () => {
    await settled(queues);
    const keys = await dataKeys(redis);
    await stack.request('POST', '/v1/predictions', { model: MODEL, input: { data: ['a text'] } });
    assert.notDeepEqual(await dataKeys(redis), keys);
    const plain = await fetch(`${stack.apiUrl}/docs-json/nothing-here`);
    assert.equal(plain.status, 404);
    assert.match(plain.headers.get('content-type') ?? '', /problem\+json/);
  });
});
