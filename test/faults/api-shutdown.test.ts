import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Stack } from '../support/stack';

/** A stack with an API only, whose stop is bounded by 2 s. */
const apiOnly = () =>
  Stack.start({ workers: 0, waitHealthy: false, env: { SHUTDOWN_GRACE_MS: '2000' } });

describe('an API told to stop', () => {
  it('stops cleanly while its Redis answers (control)', async () => {
    const stack = await apiOnly();
    try {
      assert.equal(await stack.api.stop('SIGTERM', 60_000), 0, stack.api.output.join('\n'));
    } finally {
      await stack.stop();
    }
  });

  it('exits after its grace period when its Redis is gone, instead of waiting for ever', async () => {
    const stack = await apiOnly();
    try {
      await stack.redis.stop();
      const code = await stack.api.stop('SIGTERM', 60_000);
      const output = stack.api.output.join('\n');
      assert.equal(code, 1, output);
      assert.ok(
        stack.api
          .logs()
          .some(
            (l) =>
              l.msg === 'stop took longer than SHUTDOWN_GRACE_MS: exiting with requests in flight',
          ),
        output,
      );
    } finally {
      await stack.stop();
    }
  });
});
