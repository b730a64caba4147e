import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { demoModelStore } from '../support/model-store';
import { ServeProcess } from '../support/serve-process';

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
