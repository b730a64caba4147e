import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { freePort } from '@app/common';
import { launchApi } from '../support/api-process';
import { eventually } from '../support/processes';
import { TestRedis } from '../support/redis-server';
import { MANAGEMENT_TOKEN, Stack } from '../support/stack';

/** Waits for a process to exit, at most `timeoutMs` (a generous bound, not a measurement). */
async function exitWithin(
  exited: Promise<number | null>,
  timeoutMs = 60_000,
): Promise<number | null | 'running'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'running'>((r) => (timer = setTimeout(() => r('running'), timeoutMs)));
  try {
    return await Promise.race([exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('an API started alone (npm run start:api)', () => {
  let redis: TestRedis;
  before(async () => {
    redis = await TestRedis.start();
  });
  after(() => redis?.stop());

  it('says in one line that its Redis is unreachable and exits 1, instead of waiting', async () => {
    // A port the OS just handed out and nobody listens on.
    const url = `redis://:secret-password@127.0.0.1:${await freePort()}`;
    const launched = launchApi(url, { MANAGEMENT_TOKEN });
    try {
      const code = await exitWithin(launched.api.waitForExit());
      const output = launched.api.output.join('\n');
      assert.equal(code, 1, output);
      const said = launched.api.output.filter((line) => !line.startsWith('{'));
      assert.equal(said.length, 1, output);
      assert.match(said[0], /^api: cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+: /);
      assert.doesNotMatch(output, /secret-password/);
    } finally {
      await launched.stop();
    }
  });

  it('names the setting in one line when a port is taken, and exits 1', async () => {
    // A port the OS hands out, held here while the API tries to bind it.
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    const launched = launchApi(redis.url, { MANAGEMENT_TOKEN, API_PORT: String(port) });
    try {
      const code = await exitWithin(launched.api.waitForExit());
      const output = launched.api.output.join('\n');
      assert.equal(code, 1, output);
      const said = launched.api.output.filter((line) => !line.startsWith('{'));
      assert.equal(said[0], 'api: invalid settings:', output);
      assert.match(
        said[1] ?? '',
        new RegExp(`^  API_PORT: 127\\.0\\.0\\.1:${port} is already in use .*EADDRINUSE`),
      );
      assert.equal(said.length, 2, output);
    } finally {
      await launched.stop();
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('starts when its Redis answers (control)', async () => {
    const launched = launchApi(redis.url, { MANAGEMENT_TOKEN });
    try {
      const ports = await launched.listening();
      assert.ok(ports.port > 0);
      // REDIS_URL is set: no word about the default Redis.
      assert.ok(!launched.api.logs().some((l) => String(l.msg).startsWith('REDIS_URL is not set')));
    } finally {
      await launched.stop();
    }
  });
});

describe('the access log of an expected 503', () => {
  let stack: Stack;
  before(async () => {
    stack = await Stack.start({ workers: 0, waitHealthy: false });
  });
  after(() => stack?.stop());

  it('is one line without a stack trace (GET /ping while no worker serves)', async () => {
    const response = await fetch(`${stack.apiUrl}/ping`, {
      headers: { 'x-request-id': 'ping-503' },
    });
    assert.equal(response.status, 503);
    const line = await eventually('the access log line', () =>
      stack.api.logs().find((l) => (l.req as { id?: string } | undefined)?.id === 'ping-503'),
    );
    assert.equal(line.msg, 'request errored');
    assert.deepEqual(line.res, { statusCode: 503 });
    assert.equal(line.err, undefined, JSON.stringify(line));
    assert.doesNotMatch(JSON.stringify(line), /\bat \S+ \(/, 'no stack frame');
  });
});
