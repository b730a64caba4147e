import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { predictionQueueName } from '@app/common';
import { eventually } from '../support/processes';
import { TestRedisCluster } from '../support/redis-cluster';
import { Stack } from '../support/stack';

const SYNC_RESULT_TTL_S = 1;
const TTLS = { RESULT_TTL_S: '60', SYNC_RESULT_TTL_S: String(SYNC_RESULT_TTL_S) };
/** Keys of version 1's online queue, under the default prefix `mf`. */
const QUEUE = `mf:${predictionQueueName('ag-news-bert', '1')}`;

/** Runs `use` on a connection to the Redis (the master) holding version 1's queue. */
type OnQueueNode = <T>(use: (redis: Redis) => Promise<T>) => Promise<T>;

/**
 * Sync calls and async predictions share their version's queue, kept for different times. BullMQ
 * removes, as each job finishes, every finished job of its queue older than that job's own
 * `removeOnComplete` age: a sync call carrying SYNC_RESULT_TTL_S removed the async predictions
 * finished longer ago than that, whatever their RESULT_TTL_S, and their callers polled a 404.
 */
async function asyncOutlivesSync(stack: Stack, onQueueNode: OnQueueNode): Promise<void> {
  const created = await stack.request('POST', '/v1/predictions', {
    model: 'ag-news-bert',
    input: { data: ['Stocks rallied as oil prices fell'] },
  });
  assert.equal(created.status, 202, JSON.stringify(created.body));
  const asyncId = created.body.id as string;
  const finished = await eventually('the async prediction to succeed', async () => {
    const read = await stack.request('GET', `/v1/predictions/${asyncId}`);
    return read.body.status === 'succeeded' ? read.body : undefined;
  });
  assert.equal(finished.output.length, 1);
  const finishedOn = Date.parse(finished.completed_at);
  // The clock, not luck: a job finishing from now on is more than SYNC_RESULT_TTL_S younger.
  await eventually('the async prediction to be finished past SYNC_RESULT_TTL_S', () =>
    Date.now() > finishedOn + SYNC_RESULT_TTL_S * 1000 + 500 ? true : undefined,
  );

  const sync = await stack.request('POST', '/predictions/ag-news-bert', { data: ['Oil prices'] });
  assert.equal(sync.status, 200, JSON.stringify(sync.body));
  // The sync call is answered once its job is recorded finished: BullMQ's trim has run. Its id
  // comes from the queue's event stream, which outlives the job (the sweep may be quicker).
  const events = await onQueueNode((redis) => redis.xrange(`${QUEUE}:events`, '-', '+'));
  const completedIds = events
    .map(([, fields]) => Object.fromEntries(pairs(fields)))
    .filter((event) => event.event === 'completed')
    .map((event) => event.jobId);
  const syncIds = completedIds.filter((id) => id !== asyncId);
  assert.equal(syncIds.length, 1, JSON.stringify(completedIds));

  const read = await stack.request('GET', `/v1/predictions/${asyncId}`);
  assert.equal(read.status, 200, `the async prediction was removed: ${JSON.stringify(read.body)}`);
  assert.deepEqual(read.body.output, finished.output);

  // The sync job goes once it has been finished for SYNC_RESULT_TTL_S, and its mark with it.
  await eventually('the sync job to be removed', async () => {
    const polled = await stack.request('GET', `/v1/predictions/${syncIds[0]}`);
    return polled.status === 404 ? true : undefined;
  });
  await eventually('the expiry index to be empty', async () =>
    (await onQueueNode((redis) => redis.zcard(`${QUEUE}:mf-expiry`))) === 0 ? true : undefined,
  );
  // The sweep removed the sync job alone.
  const again = await stack.request('GET', `/v1/predictions/${asyncId}`);
  assert.equal(again.status, 200, JSON.stringify(again.body));
  assert.deepEqual(again.body.output, finished.output);
}

/** `[k1, v1, k2, v2, ...]` as `[[k1, v1], [k2, v2], ...]`. */
function pairs(flat: string[]): [string, string][] {
  return Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i], flat[2 * i + 1]]);
}

describe('results kept for their own TTL, in a queue both kinds share', () => {
  let stack: Stack;
  let redis: Redis;

  before(async () => {
    stack = await Stack.start({ env: TTLS });
    redis = new Redis(stack.redis.url);
  });

  after(async () => {
    redis?.disconnect();
    await stack?.stop();
  });

  it('a sync call finishing later leaves an older async result readable; the sync job goes after its TTL', () =>
    asyncOutlivesSync(stack, (use) => use(redis)));
});

describe('results kept for their own TTL, on a Redis Cluster', () => {
  let cluster: TestRedisCluster;
  let stack: Stack;

  before(async () => {
    cluster = await TestRedisCluster.start(3);
    stack = await Stack.start({
      redis: cluster,
      env: { ...TTLS, REDIS_CLUSTER_NODES: cluster.nodes.join(',') },
    });
  });

  after(async () => {
    // The stack stops the cluster with its processes; without a stack, stop the cluster here.
    if (stack) await stack.stop();
    else await cluster?.stop();
  });

  it('the same, with the expiry index in the slot of its queue', async () => {
    const master = await cluster.masterOf(`${QUEUE}:wait`);
    assert.equal(await cluster.masterOf(`${QUEUE}:mf-expiry`), master);
    await asyncOutlivesSync(stack, (use) => cluster.onNode(master, use));
  });
});
