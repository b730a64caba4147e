import assert from 'node:assert/strict';
import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { Stack } from '../support/stack';

/** Keys a refused request could have left: anything outside the API's own consumers. */
async function dataKeys(redis: Redis): Promise<string[]> {
  return (await redis.keys('*')).filter((k) => !/:(webhooks|batches):/.test(k)).sort();
}

const SECRET = 'the-secret-line-outside-the-data-folder';

describe('hostile inputs', () => {
  let stack: Stack;
  let redis: Redis;
  let root: string;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'modelfleet-inputs-'));
    const data = join(root, 'data');
    mkdirSync(join(data, 'sub'), { recursive: true });
    writeFileSync(join(root, 'outside.csv'), `text\n${SECRET}\n`);
    writeFileSync(join(data, 'inside.csv'), 'text\nStocks rally on strong earnings\n');
    symlinkSync(join(root, 'outside.csv'), join(data, 'escape.csv'));
    symlinkSync(root, join(data, 'sub', 'up'));
    symlinkSync(join(data, 'inside.csv'), join(data, 'alias.csv'));
    // A hard link is the outside file itself under a second name: no path resolution shows it.
    linkSync(join(root, 'outside.csv'), join(data, 'hard-link.csv'));
    stack = await Stack.start({ env: { DATA_DIR: data }, workers: 0, waitHealthy: false });
    redis = new Redis(stack.redis.url);
  });

  after(async () => {
    redis?.disconnect();
    await stack?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const batch = (path: string) =>
    stack.request('POST', '/v1/batches', { model: 'ag-news-bert', path, text: 'text' });

  describe('data-folder paths', () => {
    for (const [what, path] of [
      ['a symlink to a file outside', 'escape.csv'],
      ['a hard link to a file outside', 'hard-link.csv'],
      ['a path through a symlinked folder outside', 'sub/up/outside.csv'],
      ['a relative escape', '../outside.csv'],
      ['an absolute path', '<root>/outside.csv'],
    ]) {
      it(`refuses ${what}, reading nothing and writing nothing`, async () => {
        const keys = await dataKeys(redis);
        const response = await batch(path.replace('<root>', root));
        assert.equal(response.status, 400, JSON.stringify(response.body));
        assert.match(response.headers.get('content-type') ?? '', /problem\+json/);
        assert.ok(!JSON.stringify(response.body).includes(SECRET));
        assert.deepEqual(await dataKeys(redis), keys);
      });
    }

    it('control: a file inside, and a symlink that stays inside, are read', async () => {
      for (const path of ['inside.csv', 'alias.csv']) {
        const response = await batch(path);
        assert.equal(response.status, 202, `${path}: ${JSON.stringify(response.body)}`);
      }
    });
  });

  describe('uploads', () => {
    const upload = (body: Buffer | string, headers: Record<string, string> = {}) =>
      fetch(`${stack.apiUrl}/v1/batches?model=ag-news-bert&text=a`, {
        method: 'POST',
        headers: { 'content-type': 'text/csv', ...headers },
        body,
      });

    for (const [what, body, status] of [
      ['one row of 2 million commas', `a,b\n${','.repeat(2_000_000)}\n`, 400],
      ['one field of 2 MB', `a\n${'x'.repeat(2_000_000)}\n`, 413],
      ['rows of 200,000 commas each', `a,b\n${`${','.repeat(200_000)}\n`.repeat(5)}`, 400],
      [
        'a header of 5,000 columns',
        `${Array.from({ length: 5000 }, (_, i) => `c${i}`).join(',')}\nx\n`,
        400,
      ],
    ] as const) {
      it(`refuses ${what} with ${status}, writing nothing, and keeps answering`, async () => {
        const keys = await dataKeys(redis);
        const response = await upload(body);
        assert.equal(response.status, status, await response.clone().text());
        assert.match(response.headers.get('content-type') ?? '', /problem\+json/);
        assert.deepEqual(await dataKeys(redis), keys);
        assert.equal((await fetch(`${stack.apiUrl}/healthz`)).status, 200);
      });
    }

    it('refuses a compressed body that expands past the record limit', async () => {
      const response = await upload(gzipSync(`a\n${'x'.repeat(4_000_000)}\n`), {
        'content-encoding': 'gzip',
      });
      assert.equal(response.status, 413);
    });

    for (const [what, headers, body, status] of [
      ['an unknown content encoding', { 'content-encoding': 'compress' }, 'a\nhello\n', 415],
      ['a broken gzip body', { 'content-encoding': 'gzip' }, 'not gzip at all', 400],
    ] as const) {
      it(`answers ${status} problem+json to an upload with ${what}`, async () => {
        const response = await upload(body, headers);
        assert.equal(response.status, status);
        assert.match(response.headers.get('content-type') ?? '', /problem\+json/);
      });
    }

    it('control: the same upload, well formed and gzipped, is accepted', async () => {
      const csv = 'a\nStocks rally on strong earnings\nNASA launches a probe\n';
      assert.equal((await upload(csv)).status, 202);
      assert.equal((await upload(gzipSync(csv), { 'content-encoding': 'gzip' })).status, 202);
    });
  });

  describe('bodies the parsers refuse', () => {
    const post = (headers: Record<string, string>, body: Buffer | string) =>
      fetch(`${stack.apiUrl}/predictions/ag-news-bert`, { method: 'POST', headers, body });

    for (const [what, headers, body, status] of [
      ['an unsupported charset', { 'content-type': 'application/json; charset=latin1' }, '{}', 415],
      ['an unsupported text charset', { 'content-type': 'text/plain; charset=ebcdic' }, 'x', 415],
      [
        'an unknown content encoding',
        { 'content-type': 'application/json', 'content-encoding': 'zstd-x' },
        '{}',
        415,
      ],
      [
        'a broken gzip body',
        { 'content-type': 'application/json', 'content-encoding': 'gzip' },
        'not gzip',
        400,
      ],
      [
        'a truncated gzip body',
        { 'content-type': 'application/json', 'content-encoding': 'gzip' },
        gzipSync('{"data":["a text"]}').subarray(0, 12),
        400,
      ],
    ] as const) {
      it(`answers ${status} problem+json, not 500, to ${what}`, async () => {
        const response = await post(headers, body);
        assert.equal(response.status, status);
        assert.match(response.headers.get('content-type') ?? '', /problem\+json/);
      });
    }

    it('control: a gzipped JSON body is read (and reaches the version check)', async () => {
      const response = await post(
        { 'content-type': 'application/json', 'content-encoding': 'gzip' },
        gzipSync('{"data":["a text"]}'),
      );
      // No worker runs in this stack: the body was read and the call got as far as that.
      assert.equal(response.status, 503);
    });
  });
});
