import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { batchParentQueueName, bulkQueueName, predictionQueueName } from '@app/common';
import { demoModelStore } from '../support/model-store';
import { eventually } from '../support/processes';
import { TestRedisCluster } from '../support/redis-cluster';
import { Stack } from '../support/stack';
import { agNewsSample } from '../support/texts';

const V2_LABELS = ['v2-World', 'v2-Sports', 'v2-Business', 'v2-Sci/Tech'];
const TEXTS = agNewsSample(6);

/** A key of each queue of a version, as BullMQ lays them out under the default prefix `mf`. */
const versionKeys = (version: string) => [
  `mf:${predictionQueueName('ag-news-bert', version)}:wait`,
  `mf:${predictionQueueName('ag-news-bert', version)}:events`,
  `mf:${bulkQueueName('ag-news-bert', version)}:wait`,
  `mf:${batchParentQueueName('ag-news-bert', version)}:waiting-children`,
];

describe('on a Redis Cluster of three masters', () => {
  let cluster: TestRedisCluster;
  let stack: Stack;

  before(async () => {
    cluster = await TestRedisCluster.start(3);
    // Version 2 renames the labels, so an answer tells which version gave it.
    const store = demoModelStore([{ version: '1' }, { version: '2', labels: V2_LABELS }]);
    stack = await Stack.start({
      redis: cluster,
      modelStore: store,
      env: { REDIS_CLUSTER_NODES: cluster.nodes.join(','), MODELS: 'ag-news-bert-v1' },
    });
  });
  after(async () => {
    // The stack stops the cluster with its processes; without a stack, stop the cluster here.
    if (stack) await stack.stop();
    else await cluster?.stop();
  });

  it('keeps each version on one master, and the two versions on different masters', async () => {
    const masters = new Map<string, Set<string>>();
    for (const version of ['1', '2']) {
      masters.set(
        version,
        new Set(await Promise.all(versionKeys(version).map((k) => cluster.masterOf(k)))),
      );
    }
    assert.equal(masters.get('1')!.size, 1, 'every key of version 1 on one master');
    assert.equal(masters.get('2')!.size, 1, 'every key of version 2 on one master');
    assert.notDeepEqual(masters.get('1'), masters.get('2'));
  });

  it('control: without the hash tag, keys of one version would spread over masters', async () => {
    const untagged = ['mf:predict-ag-news-bert@1:wait', 'mf:bulk-ag-news-bert@1:wait'];
    const masters = new Set(await Promise.all(untagged.map((k) => cluster.masterOf(k))));
    assert.equal(masters.size, 2);
  });

  it('registers a second version through the management API', async () => {
    const registered = await stack.manage('POST', '/models?url=ag-news-bert-v2');
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    const list = await stack.manage('GET', '/models');
    assert.deepEqual(list.body.models[0].versions.sort(), ['1', '2']);
    await stack.versionServed('ag-news-bert', '2');
  });

  it('serves sync predictions of both versions', async () => {
    for (const [version, named] of [
      ['1', (name: string) => !name.startsWith('v2-')],
      ['2', (name: string) => V2_LABELS.includes(name)],
    ] as const) {
      const response = await stack.request('POST', `/predictions/ag-news-bert/${version}`, {
        data: TEXTS,
      });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      assert.equal(response.body.length, TEXTS.length);
      for (const prediction of response.body) assert.ok(named(prediction.label_name), version);
    }
  });

  it('serves async predictions of both versions, and their jobs live on their masters', async () => {
    for (const version of ['1', '2']) {
      const created = await stack.request('POST', '/v1/predictions', {
        model: 'ag-news-bert',
        version,
        input: { data: TEXTS },
      });
      assert.equal(created.status, 202, JSON.stringify(created.body));
      const done = await eventually(`the version ${version} prediction to succeed`, async () => {
        const polled = await stack.request('GET', created.body.urls.get);
        return polled.body.status === 'succeeded' ? polled.body : undefined;
      });
      assert.equal(done.output.length, TEXTS.length);
      assert.equal(done.output[0].label_name.startsWith('v2-'), version === '2');
      const home = await cluster.masterOf(versionKeys(version)[0]);
      const found = await cluster.onNode(home, (redis) =>
        redis.keys(`mf:${predictionQueueName('ag-news-bert', version)}:*`),
      );
      assert.ok(found.length > 0, `version ${version}'s queue keys on ${home}`);
    }
  });

  it('scores a small bulk batch of version 2', async () => {
    const body = TEXTS.map((text, i) => JSON.stringify({ uid: `row-${i + 1}`, text })).join('\n');
    const created = await stack.request(
      'POST',
      '/v1/batches?model=ag-news-bert&version=2&text=text&id=uid&chunk_size=2',
      body,
      { 'content-type': 'application/x-ndjson' },
    );
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const done = await stack.batchFinished(created.body.id, 60_000);
    assert.equal(done.status, 'succeeded');
    assert.equal(done.counts.succeeded, TEXTS.length);
    const rows: { id: string; label_name: string }[] = await stack.jsonlRows(done.urls.results);
    assert.deepEqual(
      rows.map((r) => r.id),
      TEXTS.map((_, i) => `row-${i + 1}`),
    );
    assert.ok(rows.every((r) => V2_LABELS.includes(r.label_name)));
  });
  it('compares the answers of a shadow version across masters', async () => {
    const set = await stack.manage('PUT', '/models/ag-news-bert/shadow', {
      version: '2',
      fraction: 1,
    });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    await new Promise((r) => setTimeout(r, 1100)); // the API caches model records for a second
    for (const text of TEXTS) {
      const answer = await stack.request('POST', '/predictions/ag-news-bert/1', { data: [text] });
      assert.equal(answer.status, 200);
    }
    const shadow = await eventually('every copy compared', async () => {
      const described = await stack.manage('GET', '/models/ag-news-bert');
      const report = described.body[0].shadow;
      return report.compared.jobs === TEXTS.length ? report : undefined;
    });
    // Version 2 renames every label: no text agrees.
    assert.deepEqual(shadow.compared, { jobs: TEXTS.length, texts: TEXTS.length, agreed: 0 });
    assert.equal((await stack.manage('DELETE', '/models/ag-news-bert/shadow')).status, 200);
  });
});
