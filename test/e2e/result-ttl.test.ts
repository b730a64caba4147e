import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { eventually } from '../support/processes';
import { Stack } from '../support/stack';

const SYNC_RESULT_TTL_S = 1;

/**
 * Sync calls and async predictions share their version's queue, kept for different times. BullMQ
 * removes, as each job finishes, every finished job of its queue older than that job's own
 * `removeOnComplete` age: a sync call carrying SYNC_RESULT_TTL_S removed the async predictions
 * finished longer ago than that, whatever their RESULT_TTL_S, and their callers polled a 404.
 */
describe('results kept for their own TTL, in a queue both kinds share', () => {
  let stack: Stack;
  let redis: Redis;

  before(async () => {
    stack = await Stack.start({
      env: { RESULT_TTL_S: '60', SYNC_RESULT_TTL_S: String(SYNC_RESULT_TTL_S) },
    });
    redis = new Redis(stack.redis.url);
  });

  after(async () => {
    redis?.disconnect();
    await stack?.stop();
  });

  it('a sync call finishing later leaves an older async result readable; the sync job goes after its TTL', async () => {
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
    const queue = stack.predictionQueue();
    const finishedOn = (await queue.getJob(asyncId))!.finishedOn!;
    // The clock, not luck: a job finishing from now on is more than SYNC_RESULT_TTL_S younger.
    await eventually('the async prediction to be finished past SYNC_RESULT_TTL_S', () =>
      Date.now() > finishedOn + SYNC_RESULT_TTL_S * 1000 + 500 ? true : undefined,
    );

    const sync = await stack.request('POST', '/predictions/ag-news-bert', { data: ['Oil prices'] });
    assert.equal(sync.status, 200, JSON.stringify(sync.body));
    // The sync call is answered once its job is recorded finished: BullMQ's trim has run.
    const syncIds = (await queue.getJobs(['completed'], 0, -1))
      .map((job) => job.id!)
      .filter((id) => id !== asyncId);
    assert.equal(syncIds.length, 1, JSON.stringify(syncIds));

    const read = await stack.request('GET', `/v1/predictions/${asyncId}`);
    assert.equal(
      read.status,
      200,
      `the async prediction was removed: ${JSON.stringify(read.body)}`,
    );
    assert.deepEqual(read.body.result, finished.result);

    // The sync job goes once it has been finished for SYNC_RESULT_TTL_S, and its mark with it.
    await eventually('the sync job to be removed', async () => {
      const polled = await stack.request('GET', `/v1/predictions/${syncIds[0]}`);
      return polled.status === 404 ? true : undefined;
    });
    await eventually('the expiry index to be empty', async () =>
      (await redis.zcard(queue.toKey('mf-expiry'))) === 0 ? true : undefined,
    );
    // The sweep removed the sync job alone.
    const again = await stack.request('GET', `/v1/predictions/${asyncId}`);
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.deepEqual(again.body.result, finished.result);
  });
});
