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
    assert.equal(await stack.workers[0].stop('SIGTERM', 60_000), 0);
  });

  it('exits after its grace period when its Redis is gone, instead of retrying for ever', async () => {
    await stack.redis.stop();
    const worker = stack.workers[1];
    assert.equal(await worker.stop('SIGTERM', 60_000), 1, worker.output.slice(-5).join('\n'));
    assert.ok(
      worker
        .logs()
        .some(
          (l) => l.msg === 'stop took longer than SHUTDOWN_GRACE_MS: exiting with jobs in hand',
        ),
    );
  });
});
