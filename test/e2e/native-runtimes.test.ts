import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT } from '../support/paths';
import { Stack } from '../support/stack';

/** Lines "<pid> <threadId> <module>" written by test/fixtures/module-recorder.js. */
function loads(file: string): { pid: number; thread: number; module: string }[] {
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [pid, thread, module] = line.split(' ');
      return { pid: Number(pid), thread: Number(thread), module };
    });
}

describe('native runtimes', () => {
  let stack: Stack;
  let dir: string;
  let record: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mf-modules-'));
    record = join(dir, 'loads.txt');
    stack = await Stack.start({
      env: {
        NODE_OPTIONS: `--require ${join(ROOT, 'test', 'fixtures', 'module-recorder.js')}`,
        MODULE_RECORD_FILE: record,
      },
    });
    const answer = await stack.request('POST', '/predictions/ag-news-bert', {
      data: ['Oil prices surge on supply fears'],
    });
    assert.equal(answer.status, 200);
  });

  after(async () => {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("are loaded by the worker's threads (the control: the recorder sees them)", () => {
    const worker = stack.workers[0].child.pid;
    const inThread = loads(record).filter((l) => l.pid === worker && l.thread > 0);
    // The inference thread loads both; an encoding thread beside it may load tokenizers too.
    assert.deepEqual([...new Set(inThread.map((l) => l.module))].sort(), [
      'onnxruntime-node',
      'tokenizers',
    ]);
  });

  it('are never loaded by the API process, which only reads manifests', () => {
    const api = stack.api.child.pid;
    assert.deepEqual(
      loads(record).filter((l) => l.pid === api),
      [],
    );
  });

  it("are never loaded by a worker's main thread, which only talks to Redis", () => {
    const worker = stack.workers[0].child.pid;
    assert.deepEqual(
      loads(record).filter((l) => l.pid === worker && l.thread === 0),
      [],
    );
  });
});
