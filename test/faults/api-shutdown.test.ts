import assert from 'node:assert/strict';
import { Agent, request as httpRequest, type IncomingMessage } from 'node:http';
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

  it('answers a request it has in hand, closing that kept-alive connection, and exits without waiting for the client', async () => {
    // A grace period far shorter than the keep-alive timeout (72 s): a connection kept alive
    // after its answer holds the stop past the grace, and the API exits 1 (the control: without
    // ConnectionDrain, the answer said `keep-alive`, and the stop waited for it).
    const stack = await Stack.start({
      workers: 0,
      waitHealthy: false,
      env: { SHUTDOWN_GRACE_MS: '20000' },
    });
    const agent = new Agent({ keepAlive: true });
    try {
      const body = '{}';
      const request = httpRequest(`${stack.apiUrl}/v1/predictions`, {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': String(body.length),
          expect: '100-continue',
        },
      });
      const answered = new Promise<IncomingMessage>((resolve, reject) => {
        request.on('response', resolve);
        request.on('error', reject);
      });
      // The 100 Continue says that the API has taken the request in (its body still to come).
      await new Promise((resolve) => {
        request.on('continue', resolve);
        request.flushHeaders();
      });
      stack.api.child.kill('SIGTERM');
      await stack.api.waitForLog('stopping');
      request.end(body);
      const response = await answered;
      response.resume();
      assert.equal(response.statusCode, 400, 'the request in hand is answered');
      assert.equal(response.headers.connection, 'close');
      assert.equal(await stack.api.stop('SIGTERM', 60_000), 0, stack.api.output.join('\n'));
    } finally {
      agent.destroy();
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
