import assert from 'node:assert/strict';
import { cpSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MANIFEST_FILE } from '@app/handler';
import { demoModelStore } from '../support/model-store';
import { eventually } from '../support/processes';
import { Stack } from '../support/stack';

/** A copy of the store's demo package under another model name, changed by `change`. */
function variant(store: string, name: string, change: (dir: string) => void): void {
  const dir = join(store, name);
  cpSync(join(store, 'ag-news-bert-v1'), dir, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8'));
  writeFileSync(join(dir, MANIFEST_FILE), JSON.stringify({ ...manifest, name }));
  change(dir);
}

describe('management answers name packages relative to the store, never by its absolute path', () => {
  const store = demoModelStore([{ version: '1' }]);
  let stack: Stack;

  /** Fails when `text` holds the store's path in either spelling. */
  const assertNoStorePath = (text: string) => {
    for (const path of [store, realpathSync(store)]) assert.ok(!text.includes(path), text);
  };

  before(async () => {
    variant(store, 'no-vocab', (dir) => rmSync(join(dir, 'vocab.txt')));
    variant(store, 'garbage', (dir) => {
      rmSync(join(dir, 'model.onnx'));
      writeFileSync(join(dir, 'model.onnx'), 'not an ONNX graph');
    });
    stack = await Stack.start({ modelStore: store, env: { MODELS: 'ag-news-bert-v1,no-vocab' } });
  });

  after(async () => {
    await stack?.stop();
    rmSync(store, { recursive: true, force: true });
  });

  it('a package refused at registration: the 400 names it and its file within the store', async () => {
    const response = await stack.manage('POST', '/models?url=no-vocab');
    assert.equal(response.status, 400, JSON.stringify(response.body));
    // Control: the message does carry the package's path, written relative to the store.
    assert.match(response.body.detail, /model package no-vocab lacks vocab\.txt/);
    assertNoStorePath(JSON.stringify(response.body));
  });

  it('a package the API could not register at start: its failure in GET /models', async () => {
    const { body } = await stack.manage('GET', '/models');
    const failure = body.failedPackages.find(
      (f: { location: string }) => f.location === 'no-vocab',
    );
    assert.match(failure.reason, /model package no-vocab lacks vocab\.txt/);
    assertNoStorePath(JSON.stringify(body));
  });

  it("a version a worker cannot load: the worker's reason in GET /models/{name}", async () => {
    const registered = await stack.manage('POST', '/models?url=garbage&initial_workers=1');
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    const version = await eventually('the worker to report its load failure', async () => {
      const [described] = (await stack.manage('GET', '/models/garbage')).body;
      return described?.failures?.length ? described : undefined;
    });
    // Control: ONNX Runtime's message names the graph's file, here relative to the store.
    assert.match(version.failures[0].reason, /garbage\/model\.onnx/);
    assertNoStorePath(JSON.stringify(version));
  });
});
