import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { THREAD_STARTED } from './thread-tag';

// A worker thread that answers with its own OS thread id, then ends.
const PROGRAM = `
const { Worker } = require('node:worker_threads');
const code = "require('node:worker_threads').parentPort.postMessage(require('node:fs').readlinkSync('/proc/thread-self'))";
const worker = new Worker(code, { eval: true });
worker.on('message', (self) => { process.stdout.write(self.split('/').pop()); void worker.terminate(); });
`;

describe('thread-tag preload', () => {
  it('makes each worker thread, and only it, say its OS thread id and the threads before it', () => {
    const run = spawnSync(
      process.execPath,
      ['--require', join(__dirname, 'thread-tag.js'), '-e', PROGRAM],
      { encoding: 'utf8' },
    );
    assert.equal(run.status, 0, run.stderr);
    const tags = run.stderr
      .split('\n')
      .filter((line) => line.includes(THREAD_STARTED))
      .map((line) => JSON.parse(line) as { tid: number; earlier: number[] });
    assert.equal(tags.length, 1, run.stderr);
    assert.equal(tags[0].tid, Number(run.stdout));
    assert.ok(tags[0].earlier.length > 0 && !tags[0].earlier.includes(tags[0].tid));
    assert.ok(!tags[0].earlier.includes(run.pid));
  });
});
