import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { demoModelStore } from '../support/model-store';
import { ServeProcess } from '../support/serve-process';
import { MANAGEMENT_TOKEN } from '../support/stack';

/** A management call to a running serve, answered as JSON. */
async function manage(
  serve: ServeProcess,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${serve.managementUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${MANAGEMENT_TOKEN}`,
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** The versions of the demo model the registry holds. */
async function versions(serve: ServeProcess): Promise<string[]> {
  const listed = await manage(serve, 'GET', '/models/ag-news-bert');
  assert.equal(listed.status, 200, JSON.stringify(listed.body));
  return (listed.body as unknown as { modelVersion: string }[]).map((v) => v.modelVersion).sort();
}

describe('serve stopped and started again on a kept Redis', () => {
  const store = demoModelStore([{ version: '1' }]);
  const dataDir = mkdtempSync(join(tmpdir(), 'modelfleet-kept-redis-'));
  const started: ServeProcess[] = [];
  after(async () => {
    for (const serve of started) await serve.stop();
    rmSync(store, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('stops in order on a SIGTERM to serve alone: the API, then the workers, then its Redis', async () => {
    const first = await ServeProcess.start({ modelStore: store, dataDir });
    started.push(first);
    assert.equal(first.lines('registered model version')[0].location, 'ag-news-bert-v1');
    assert.equal(await first.stop(), 0);
    // SIGTERM to serve alone: the API stops first, then the workers, then Redis.
    const order = first.process.logs().map((l) => `${String(l.service)}:${String(l.msg)}`);
    const steps = [
      'api:stopping',
      'worker:stopping: finishing jobs in hand',
      'supervisor:stopped the local redis-server',
    ].map((step) => order.indexOf(step));
    assert.deepEqual(
      [...steps].sort((a, b) => a - b),
      steps,
      order.join('\n'),
    );
    assert.ok(steps[0] >= 0);
  });

  it('registers the store again before it starts workers, so a stale package location is never served', async () => {
    // The package moves within the store: the registry kept in Redis still names its old folder.
    renameSync(join(store, 'ag-news-bert-v1'), join(store, 'news-classifier'));

    const second = await ServeProcess.start({ modelStore: store, dataDir });
    started.push(second);
    const logs = second.process.logs();
    const registered = logs.findIndex(
      (l) => l.msg === 'registered model version' && l.location === 'news-classifier',
    );
    const firstWorker = logs.findIndex((l) => l.msg === 'started process' && l.child !== 'api');
    assert.ok(registered >= 0, 'the API registered the package at its new place');
    assert.ok(firstWorker > registered, 'the first worker started after that registration');
    assert.deepEqual(
      logs.filter((l) => l.msg === 'cannot serve model version'),
      [],
      'no worker tried the stale location',
    );
    const answer = await fetch(`${second.apiUrl}/predictions/ag-news-bert`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ data: ['Stocks fall as rates rise'] }),
    });
    assert.equal(answer.status, 200);
  });
});

describe('a version the operator unregistered, across restarts', () => {
  const store = demoModelStore([{ version: '1' }, { version: '2' }]);
  const dataDir = mkdtempSync(join(tmpdir(), 'modelfleet-unregistered-'));
  const started: ServeProcess[] = [];
  after(async () => {
    for (const serve of started) await serve.stop();
    rmSync(store, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  });
  const start = async () => {
    const serve = await ServeProcess.start({ modelStore: store, dataDir });
    started.push(serve);
    return serve;
  };

  it('stays unregistered when serve starts again, though its package is still in the store', async () => {
    const first = await start();
    assert.deepEqual(await versions(first), ['1', '2']);
    assert.equal((await manage(first, 'PUT', '/models/ag-news-bert/2/set-default')).status, 200);
    assert.equal((await manage(first, 'DELETE', '/models/ag-news-bert/1')).status, 200);
    assert.equal(await first.stop(), 0);

    const second = await start();
    assert.deepEqual(await versions(second), ['2'], 'version 1 came back after a restart');
    const left = second.lines('left a package of the store unregistered');
    assert.deepEqual(
      left.map((l) => [l.location, l.version]),
      [['ag-news-bert-v1', '1']],
    );
    assert.match(String(left[0].reason), /POST \/models/);
    const listed = await manage(second, 'GET', '/models');
    assert.equal(
      listed.body.failedPackages,
      undefined,
      'a version left unregistered is no failure',
    );

    // Registering it explicitly brings it back, and that decision is kept in turn.
    const again = await manage(second, 'POST', '/models?url=ag-news-bert-v1');
    assert.equal(again.status, 201, JSON.stringify(again.body));
    assert.deepEqual(await versions(second), ['1', '2']);
    assert.equal(await second.stop(), 0);

    const third = await start();
    assert.deepEqual(await versions(third), ['1', '2']);
    assert.deepEqual(third.lines('left a package of the store unregistered'), []);
  });
});
