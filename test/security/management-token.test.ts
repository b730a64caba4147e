import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { sameSecret } from '../../apps/api/src/core/auth';
import { eventually } from '../support/processes';
import { launchApi } from '../support/api-process';
import { startTestRedis, type TestRedis } from '../support/redis-server';

/** An API process over the demo store, with its management port; no worker is needed here. */
function startApi(redis: TestRedis, env: Record<string, string>) {
  const launched = launchApi(redis.url, env);
  return {
    api: launched.api,
    stop: () => launched.stop(),
    management: async () => `http://127.0.0.1:${(await launched.listening()).managementPort}`,
  };
}

const tokenDir = mkdtempSync(join(tmpdir(), 'modelfleet-token-'));
const tokenFile = (name: string, content: string) => {
  const file = join(tokenDir, name);
  writeFileSync(file, content, { mode: 0o600 });
  return file;
};

const PATHS = ['/models', '/admin/queues', '/docs', '/docs-json', '/docs-yaml'];

describe('management token', () => {
  let redis: TestRedis;
  let client: Redis;

  before(async () => {
    redis = await startTestRedis();
    client = new Redis(redis.url);
  });

  after(async () => {
    client.disconnect();
    await redis?.stop();
  });

  for (const [what, content] of [
    ['an empty file', ''],
    ['a file of blanks', '   \n\n'],
    ['a token of 15 characters', '0123456789abcde\n'],
    ['a token with a space', 'a token with spaces in it\n'],
  ]) {
    it(`refuses to start with ${what} in MANAGEMENT_TOKEN_FILE, naming the file`, async () => {
      const file = tokenFile(`bad-${what.replace(/\W+/g, '-')}`, content);
      const started = startApi(redis, { MANAGEMENT_TOKEN_FILE: file });
      const { api } = started;
      after(() => started.stop());
      assert.equal(await api.waitForExit(), 1);
      const output = api.output.join('\n');
      assert.match(output, /MANAGEMENT_TOKEN_FILE/);
      assert.ok(output.includes(file), output);
      assert.doesNotMatch(output, /management API is open/);
      assert.equal(readFileSync(file, 'utf8'), content, 'the file is left as it was');
      assert.deepEqual(await client.keys('*'), [], 'nothing was registered');
    });
  }

  // Control: a good token file starts the API, and then every management path needs the token.
  it('starts with a good token file and guards every management path with it', async () => {
    const token = 'a-good-token-from-a-file-0123';
    const file = tokenFile('good', `${token}\n`);
    const started = startApi(redis, { MANAGEMENT_TOKEN_FILE: file });
    const { api } = started;
    try {
      const management = await started.management();
      await eventually('the management API', async () => {
        if (!api.running) throw new Error(api.output.join('\n'));
        return (await fetch(`${management}/models`)).status;
      });
      for (const path of PATHS) {
        const open = await fetch(`${management}${path}`);
        assert.equal(open.status, 401, `${path} answered without the token`);
        assert.match(open.headers.get('content-type') ?? '', /application\/problem\+json/);
        // A browser asks for a login on this challenge; the detail says where the token is.
        assert.match(open.headers.get('www-authenticate') ?? '', /^Basic realm="[^"]+"$/, path);
        const { detail } = (await open.json()) as { detail: string };
        assert.ok(detail.includes(file), detail);
        assert.ok(!detail.includes(token), 'the 401 names the file, never the token');
        const wrong = await fetch(`${management}${path}`, {
          headers: { authorization: `Bearer ${token}x` },
        });
        assert.equal(wrong.status, 401, `${path} accepted a longer token`);
      }
      for (const path of ['/models', '/docs-json']) {
        const ok = await fetch(`${management}${path}`, {
          headers: { authorization: `Bearer ${token}` },
        });
        assert.equal(ok.status, 200, path);
      }
      // No webhook secret here, so nothing delivers webhooks: Bull Board leaves their queue out
      // rather than show it with "No workers".
      const board = await fetch(`${management}/admin/queues/api/queues`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const queues = ((await board.json()) as { queues: { name: string }[] }).queues;
      const names = queues.map((q) => q.name);
      assert.ok(names.includes('{batches}'), names.join());
      assert.ok(!names.includes('{webhooks}'), names.join());
      const basic = Buffer.from(`admin:${token}`).toString('base64');
      const docs = await fetch(`${management}/docs`, {
        headers: { authorization: `Basic ${basic}` },
      });
      assert.equal(docs.status, 200, 'a browser logs in to /docs with Basic auth');
    } finally {
      await started.stop();
    }
  });

  it('opens the management API only when MANAGEMENT_AUTH=false', async () => {
    const started = startApi(redis, {
      MANAGEMENT_AUTH: 'false',
      MANAGEMENT_TOKEN_FILE: tokenFile('unused-empty', ''),
    });
    const { api } = started;
    try {
      const management = await started.management();
      const status = await eventually('the management API', async () => {
        if (!api.running) throw new Error(api.output.join('\n'));
        return (await fetch(`${management}/docs-json`)).status;
      });
      assert.equal(status, 200);
      assert.ok(api.output.some((line) => line.includes('management API is open')));
    } finally {
      await started.stop();
    }
  });
});

describe('secret comparison', () => {
  it('accepts only the same secret, whatever the lengths', () => {
    const secret = 'the-management-token-0123456789';
    assert.ok(sameSecret(secret, secret));
    for (const other of ['', 't', secret.slice(0, -1), `${secret}x`, secret.toUpperCase()])
      assert.ok(!sameSecret(other, secret), JSON.stringify(other));
  });
});
