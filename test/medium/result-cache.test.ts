import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectRedis, type Logger, type RedisConnection } from '@app/common';
import { ResultCache, type Classifier } from '../../apps/worker/src/batching/result-cache';
import { TestRedisCluster } from '../support/redis-cluster';

/** A classifier that answers each text with its length and counts what it was asked to run. */
function countingClassifier() {
  const ran: string[] = [];
  const classifier: Classifier = {
    cacheKeys: (texts) => Promise.resolve(texts.map((t) => t.toLowerCase())),
    classify: (texts) => {
      ran.push(...texts);
      return Promise.resolve({
        results: texts.map((t) => ({ label: t.length, probability: 1 / t.length })),
        batches: [
          { size: texts.length, realTokens: 0, paddedTokens: 0, startedAt: 0, inferenceMs: 1 },
        ],
        batchOf: texts.map(() => 0),
        preprocessMs: 0,
      });
    },
  };
  return { classifier, ran };
}

const silent = { warn: () => undefined } as unknown as Logger;
const TEXTS = ['Oil prices jump', 'Yankees win', 'NASA launches a probe', 'Stocks fall', 'Rain'];

describe('the result cache on a Redis Cluster of three masters', () => {
  let cluster: TestRedisCluster;
  let redis: RedisConnection;

  before(async () => {
    cluster = await TestRedisCluster.start(3);
    redis = connectRedis({ url: cluster.url, clusterNodes: cluster.nodes });
  });
  after(async () => {
    redis?.disconnect();
    await cluster?.stop();
  });

  const cache = (version: string) =>
    new ResultCache(redis, 'mf', { name: 'm', version, packageSha256: 'ab' }, 60, silent);

  it('runs only the misses, answers the rest from one MGET, and keys texts with the same handler key as one', async () => {
    const { classifier, ran } = countingClassifier();
    const first = await cache('1').classify(classifier, TEXTS);
    assert.deepEqual(ran, TEXTS);
    assert.deepEqual(first.cached, []);
    const again = ['RAIN', ...TEXTS.slice(0, 2), 'A new text'];
    const second = await cache('1').classify(classifier, again);
    assert.deepEqual(ran.slice(TEXTS.length), ['A new text']);
    assert.deepEqual(second.cached, [0, 1, 2]);
    assert.deepEqual(second.results.slice(0, 3), [first.results[4], ...first.results.slice(0, 2)]);
    assert.deepEqual(second.batchOf, [-1, -1, -1, 0]);
  });

  it('never answers one version from the cache of another (the control: the same texts)', async () => {
    const { classifier, ran } = countingClassifier();
    await cache('2').classify(classifier, TEXTS);
    assert.deepEqual(ran, TEXTS);
    const other = await cache('3').classify(classifier, TEXTS);
    assert.deepEqual(other.cached, []);
    const same = await cache('2').classify(classifier, TEXTS);
    assert.equal(same.cached.length, TEXTS.length);
  });
});
