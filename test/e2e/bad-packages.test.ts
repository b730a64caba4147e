import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { MANIFEST_FILE, manifestSchema } from '@app/handler/package';
import { ModelRegistry } from '@app/registry';
import { DEMO_MODEL } from '../support/paths';
import { demoModelStore } from '../support/model-store';
import { eventually } from '../support/processes';
import { TestRedis } from '../support/redis-server';
import { Stack } from '../support/stack';

describe('bad packages in the store, and a registry that outlived its store', () => {
  let stack: Stack;
  let store: string;
  let redis: TestRedis;

  before(async () => {
    store = demoModelStore([{ version: '1' }]);
    writeFileSync(join(store, 'broken.tar.gz'), 'this is not a gzip archive');
    mkdirSync(join(store, 'bad-manifest'));
    writeFileSync(join(store, 'bad-manifest', 'MANIFEST.json'), '{"name": "bad"');
    redis = await TestRedis.start();
    // A previous run registered a version from a package the store no longer has.
    const client = new Redis(redis.url);
    const registry = new ModelRegistry(client);
    await registry.registerVersion({
      name: 'gone',
      version: '1',
      location: 'gone-v1',
      labels: ['a', 'b'],
      manifest: manifestSchema.parse(
        JSON.parse(readFileSync(join(DEMO_MODEL, MANIFEST_FILE), 'utf8')),
      ),
      registeredAt: new Date().toISOString(),
      minWorkers: 0,
      maxWorkers: 0,
    });
    client.disconnect();
    stack = await Stack.start({
      redis,
      modelStore: store,
      workerEnv: { WORKER_MODELS: 'ag-news-bert' },
      // /ping stays 503 here: the stale model has no worker, and that is the point.
      waitHealthy: false,
    });
  });

  after(async () => {
    await stack?.stop();
    rmSync(store, { recursive: true, force: true });
  });

  it('skips a broken archive and a bad manifest, and the other packages serve', async () => {
    assert.equal(stack.api.running, true);
    const answer = await eventually('the good package to serve', async () => {
      const response = await stack.request('POST', '/predictions/ag-news-bert', {
        data: ['Oil prices'],
      });
      return response.status === 503 ? undefined : response;
    });
    assert.equal(answer.status, 200, 'control: the good package serves');
  });

  it('shows each skipped package as failed, with its reason, in GET /models', async () => {
    const list = await stack.manage('GET', '/models');
    assert.equal(list.status, 200);
    const failed = Object.fromEntries(
      (list.body.failedPackages as { location: string; reason: string }[]).map((f) => [
        f.location,
        f.reason,
      ]),
    );
    assert.deepEqual(Object.keys(failed).sort(), ['bad-manifest', 'broken.tar.gz']);
    assert.match(failed['bad-manifest'], /MANIFEST\.json/);
    assert.ok(failed['broken.tar.gz'].length > 0);
    assert.ok(!Object.keys(failed).includes('ag-news-bert-v1'), 'control: the good one is not');
  });

  it('shows a registered version whose package left the store as failed, with why', async () => {
    const gone = await stack.manage('GET', '/models/gone/1');
    assert.equal(gone.status, 200);
    assert.equal(gone.body[0].status, 'FAILED');
    assert.match(gone.body[0].reason, /gone-v1.*not in the model store/);
    const good = await stack.manage('GET', '/models/ag-news-bert/1');
    assert.equal(good.body[0].status, 'READY', 'control');
    assert.equal(good.body[0].failures, undefined);
  });

  it('counts the standing failures in the metrics', async () => {
    const text = await (await fetch(`${stack.metricsUrl}/metrics`)).text();
    assert.match(text, /modelfleet_serving_failures\{subject="gone@1",source="api"\} 1/);
    assert.match(
      text,
      /modelfleet_serving_failures\{subject="package:broken.tar.gz",source="api"\} 1/,
    );
    assert.doesNotMatch(text, /subject="ag-news-bert@1"/);
  });
});
