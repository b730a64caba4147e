import assert from 'node:assert/strict';
import { renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { after, before, describe, it } from 'node:test';
import { loadModelPackage } from '@app/handler/package';
import { ModelRegistry, type VersionRecord } from '@app/registry';
import { demoModelStore } from '../support/model-store';
import { AppProcess, eventually } from '../support/processes';
import { TestRedis } from '../support/redis-server';

describe('a worker heals when the registry and the model store disagree', () => {
  let redis: TestRedis;
  let client: Redis;
  let registry: ModelRegistry;
  let store: string;
  const workers: AppProcess[] = [];

  before(async () => {
    redis = await TestRedis.start();
    client = new Redis(redis.url);
    registry = new ModelRegistry(client);
    store = demoModelStore([{ version: '1' }, { version: '2' }]);
  });
  after(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    client?.disconnect();
    await redis?.stop();
    if (store) rmSync(store, { recursive: true, force: true });
  });

  /** The record the API would register for a package of the store. */
  const recordOf = async (location: string): Promise<VersionRecord> => {
    const pkg = await loadModelPackage(join(store, location));
    await pkg.release();
    const { name, version } = pkg.manifest;
    const registeredAt = new Date().toISOString();
    const labels = [...pkg.labels];
    return {
      name,
      version,
      location,
      labels,
      manifest: pkg.manifest,
      registeredAt,
      ...{ minWorkers: 1, maxWorkers: 1 },
    };
  };
  const startWorker = (id: string, env: Record<string, string>) => {
    const worker = AppProcess.start(id, 'apps/worker/src/main.js', {
      REDIS_URL: redis.url,
      MODEL_STORE: store,
      WORKER_ID: id,
      WORKER_METRICS_PORT: '0',
      HEARTBEAT_MS: '300',
      REGISTRY_POLL_MS: '300',
      INTRA_OP_THREADS: '1',
      ...env,
    });
    workers.push(worker);
    return worker;
  };
  const failureOf = async (key: string, source: string) =>
    (await registry.failures()).get(key)?.find((f) => f.source === source);
  const serves = (id: string, key: string) =>
    eventually(`${id} to serve ${key}`, async () => {
      const record = (await registry.liveWorkers()).find((w) => w.id === id);
      return record?.versions.includes(key) ? true : undefined;
    });
  const loadFailures = async (worker: AppProcess, version: string) => {
    const started = await worker.waitForLog('worker started');
    const text = await (await fetch(`http://127.0.0.1:${Number(started.opsPort)}/metrics`)).text();
    const line = new RegExp(
      `^modelfleet_worker_version_load_failures\\{model="ag-news-bert",version="${version}"\\} (\\d+)$`,
      'm',
    ).exec(text);
    return line ? Number(line[1]) : undefined;
  };

  it('serves a version once its stale record is fixed, without a restart', async () => {
    // A kept Redis says that version 1 lives at "demo", which this store does not hold.
    await registry.registerVersion({ ...(await recordOf('ag-news-bert-v1')), location: 'demo' });
    // A backoff longer than the test: only the change of the record can make it load.
    const worker = startWorker('w1', { WORKER_MODELS: 'ag-news-bert@1', LOAD_RETRY_MS: '600000' });
    const failure = await eventually('the failure in the registry', () =>
      failureOf('ag-news-bert@1', 'w1'),
    );
    assert.match(failure.reason, /model package .*demo does not exist/);

    await registry.registerVersion(await recordOf('ag-news-bert-v1'));
    await serves('w1', 'ag-news-bert@1');
    assert.equal(await failureOf('ag-news-bert@1', 'w1'), undefined, 'the failure is cleared');
    assert.equal(await loadFailures(worker, '1'), 0);
    assert.ok(worker.running);
  });

  it('shows a package removed while registered as failed, and serves the rest', async () => {
    await registry.registerVersion(await recordOf('ag-news-bert-v2'));
    renameSync(join(store, 'ag-news-bert-v2'), join(store, 'parked-v2'));
    const worker = startWorker('w2', { LOAD_RETRY_MS: '200', LOAD_RETRY_MAX_MS: '400' });
    const failure = await eventually('the failure in the registry', () =>
      failureOf('ag-news-bert@2', 'w2'),
    );
    assert.match(failure.reason, /ag-news-bert-v2 does not exist/);
    await serves('w2', 'ag-news-bert@1');
    await eventually('two failed loads in the metrics', async () =>
      ((await loadFailures(worker, '2')) ?? 0) >= 2 ? true : undefined,
    );
  });

  it('loads a package fixed while a worker waits on it, after its backoff', async () => {
    const worker = workers.find((w) => w.name === 'w2')!;
    renameSync(join(store, 'parked-v2'), join(store, 'ag-news-bert-v2'));
    await serves('w2', 'ag-news-bert@2');
    assert.equal(await failureOf('ag-news-bert@2', 'w2'), undefined, 'the failure is cleared');
    assert.equal(await loadFailures(worker, '2'), 0);
  });
});
