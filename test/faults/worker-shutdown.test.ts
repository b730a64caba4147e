import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Stack } from '../support/stack';

describe('a worker told to stop', () => {
  let stack: Stack;

  before(async () => {
    stack = await Stack.start({ workers: 2, workerEnv: { SHUTDOWN_GRACE_MS: '2000' } });
  });
  after(() => stack?.stop());

  it('stops cleanly while its Redis answers (control)', async () => {
    const worker = stack.workers[0];
    assert.equal(await worker.stop('SIGTERM', 60_000), 0, worker.output.join('\n'));
  });

  it('exits 0 when told to stop while it still starts (its model loading)', async () => {
    const worker = stack.addWorker({ SHUTDOWN_GRACE_MS: '2000' });
    // Its first line: from there on a SIGTERM is its to handle, however far its start has come.
    await worker.waitForLog('worker starting');
    assert.equal(await worker.stop('SIGTERM', 60_000), 0, worker.output.join('\n'));
    assert.ok(
      worker.logs().some((l) => l.msg === 'stopped'),
      worker.output.join('\n'),
    );
  });

  it('exits after its grace period when its Redis is gone, instead of retrying for ever', async () => {
    const worker = stack.workers[1];
    assert.ok(worker.running, worker.output.join('\n'));
    await stack.redis.stop();
    const code = await worker.stop('SIGTERM', 60_000);
    const output = worker.output.join('\n');
    assert.equal(code, 1, output);
    assert.ok(
      worker
        .logs()
        .some(
          (l) => l.msg === 'stop took longer than SHUTDOWN_GRACE_MS: exiting with jobs in hand',
        ),
      output,
    );
  });
});
