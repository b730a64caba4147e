import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { eventually } from '../support/processes';
import { Stack } from '../support/stack';

describe('made-up ids, unbounded numbers, idle results', () => {
  let stack: Stack;
  let redis: Redis;

  before(async () => {
    stack = await Stack.start({ env: { SYNC_RESULT_TTL_S: '120' } });
    redis = new Redis(stack.redis.url);
  });

  after(async () => {
    redis?.disconnect();
    await stack?.stop();
  });

  it('answers 404 to ids of versions that are not registered, and writes nothing', async () => {
    const keys = (await redis.keys('*')).sort();
    for (let i = 0; i < 50; i++) {
      const id = `made-up-${i}@v${i}.${randomUUID()}`;
      const read = await stack.request('GET', `/v1/predictions/${id}`);
      assert.equal(read.status, 404);
      const cancel = await stack.request('POST', `/v1/predictions/${id}/cancel`);
      assert.equal(cancel.status, 404);
    }
    assert.deepEqual((await redis.keys('*')).sort(), keys);
  });

  it('control: an id of the registered version is looked up in its queue', async () => {
    const id = `ag-news-bert@1.${randomUUID()}`;
    const read = await stack.request('GET', `/v1/predictions/${id}`);
    assert.equal(read.status, 404);
    // The version's queue exists: its id was looked for there, and simply is not there.
    assert.ok((await redis.keys('*predict-{ag-news-bert@1}*')).length > 0);
  });

  for (const [what, path] of [
    ['batch_size', '/models?url=ag-news-bert&batch_size=100000000'],
    ['max_batch_delay', '/models?url=ag-news-bert&max_batch_delay=99999999'],
    ['initial_workers', '/models?url=ag-news-bert&initial_workers=65'],
    ['max_worker', '/models/ag-news-bert?max_worker=1000'],
    ['min_worker', '/models/ag-news-bert/1?min_worker=65&max_worker=65'],
  ]) {
    it(`refuses ${what} past its bound with a 400 naming it, changing nothing`, async () => {
      const method = path.startsWith('/models?') ? 'POST' : 'PUT';
      const earlier = await stack.manage('GET', '/models/ag-news-bert/1');
      const response = await stack.manage(method, path);
      assert.equal(response.status, 400, JSON.stringify(response.body));
      assert.match(response.body.detail, new RegExp(what));
      assert.deepEqual(
        (await stack.manage('GET', '/models/ag-news-bert/1')).body[0].maxWorkers,
        earlier.body[0].maxWorkers,
      );
    });
  }

  it('control: values within the bounds are accepted', async () => {
    const scaled = await stack.manage('PUT', '/models/ag-news-bert/1?min_worker=1&max_worker=64');
    assert.equal(scaled.status, 202, JSON.stringify(scaled.body));
    // Within its bound, batch_size passes the check (the version is registered again with it).
    const registered = await stack.manage('POST', '/models?url=ag-news-bert-v1&batch_size=4096');
    assert.ok([200, 201, 409].includes(registered.status), JSON.stringify(registered.body));
  });

  for (const [what, weights, why] of [
    ['weights of 1e308 (their sum is Infinity)', { 1: 1e308, 2: 1e308 }, /from 0 to 1000000: 1, 2/],
    ['a weight past the bound', { 1: 1_000_001 }, /from 0 to 1000000: 1$/],
    ['no weight above 0', { 1: 0 }, /at least one weight must be above 0/],
  ] as const) {
    it(`refuses a traffic split with ${what}: a 400, changing nothing`, async () => {
      const response = await stack.manage('PUT', '/models/ag-news-bert/traffic', weights);
      assert.equal(response.status, 400, JSON.stringify(response.body));
      assert.match(response.body.detail, why);
      assert.deepEqual(
        (await stack.manage('GET', '/models/ag-news-bert')).body[0].trafficWeight,
        null,
      );
    });
  }

  it('control: a split with the largest weight is in force, and {} clears it', async () => {
    const set = await stack.manage('PUT', '/models/ag-news-bert/traffic', { 1: 1_000_000 });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.deepEqual(set.body.traffic, { 1: 1_000_000 });
    const cleared = await stack.manage('PUT', '/models/ag-news-bert/traffic', {});
    assert.deepEqual(cleared.body.traffic, {});
  });

  it('keeps a sync job only SYNC_RESULT_TTL_S, an async one RESULT_TTL_S', async () => {
    const before = Date.now();
    const sync = await stack.request('POST', '/predictions/ag-news-bert', { data: ['Oil prices'] });
    assert.equal(sync.status, 200);
    const created = await stack.request('POST', '/v1/predictions', {
      model: 'ag-news-bert',
      input: { data: ['Oil prices'] },
    });
    const asyncId = created.body.id as string;
    const queue = stack.predictionQueue();
    // Until the async job has completed, however long a loaded machine takes (not 5 s at most).
    const jobs = await eventually('the async job to complete', async () => {
      const completed = await queue.getJobs(['completed'], 0, -1);
      return completed.some((j) => j.id === asyncId) ? completed : undefined;
    });
    // One BullMQ age for every job of the queue, the longer TTL: BullMQ removes a queue's
    // finished jobs by the age of the job finishing, so a shorter one would cut the others.
    const ages = jobs.map((j) => [j.opts.removeOnComplete, j.opts.removeOnFail]);
    assert.ok(
      ages.every(([done, failed]) => isAge(done, 86_400) && isAge(failed, 86_400)),
      JSON.stringify(ages),
    );
    // The sync jobs are marked to go SYNC_RESULT_TTL_S after they finish; the async one is not.
    const marks = new Map(
      jobs.map((j) => [j.id, redis.zscore(queue.toKey('mf-expiry'), j.id!)] as const),
    );
    assert.equal(await marks.get(asyncId), null);
    const syncMarks = await Promise.all(
      [...marks].filter(([id]) => id !== asyncId).map(([, m]) => m),
    );
    assert.ok(syncMarks.length > 0);
    assert.ok(
      syncMarks.every((m) => Number(m) >= before + 120_000 && Number(m) <= Date.now() + 120_000),
      JSON.stringify(syncMarks),
    );
  });
});

const isAge = (keep: unknown, ageS: number) =>
  typeof keep === 'object' && keep !== null && (keep as { age?: number }).age === ageS;
