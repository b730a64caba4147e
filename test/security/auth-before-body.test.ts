import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { MANAGEMENT_TOKEN, Stack } from '../support/stack';

const API_KEY = 'test-api-key-0123456789';

/**
 * Sends the headers of a request whose body is `declared` bytes long, then only `sent` bytes of
 * it, and resolves with the status line of the answer, if one comes while the rest of the body
 * is still owed (undefined when the connection closes without one). `finish` sends the rest.
 */
function partialRequest(
  url: string,
  request: { method: string; path: string; headers: Record<string, string> },
  declared: number,
  sent: number,
): { status: Promise<number | undefined>; finish: () => void } {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  const head = [
    `${request.method} ${request.path} HTTP/1.1`,
    `host: ${hostname}:${port}`,
    `content-length: ${declared}`,
    ...Object.entries(request.headers).map(([k, v]) => `${k}: ${v}`),
    '',
    '',
  ].join('\r\n');
  socket.write(head);
  socket.write(Buffer.alloc(sent, 'a'));
  let answer = '';
  const status = new Promise<number | undefined>((resolve) => {
    socket.on('data', (chunk) => {
      answer += String(chunk);
      const match = /^HTTP\/1\.1 (\d{3})/.exec(answer);
      if (match) resolve(Number(match[1]));
    });
    socket.on('close', () => resolve(undefined));
    socket.on('error', () => resolve(undefined));
  });
  void status.finally(() => socket.destroy());
  return { status, finish: () => socket.write(Buffer.alloc(declared - sent, 'a')) };
}

describe('authentication comes before any body is read', () => {
  let stack: Stack;

  before(async () => {
    stack = await Stack.start({ env: { API_KEY }, waitHealthy: false });
  });

  after(async () => {
    await stack?.stop();
  });

  const MB = 1024 * 1024;
  const cases = [
    ['a dataset upload', '/v1/batches?model=ag-news-bert&text=text', 'text/csv'],
    ['an async prediction', '/v1/predictions', 'application/json'],
    ['a sync prediction', '/predictions/ag-news-bert', 'application/json'],
  ] as const;

  for (const [what, path, type] of cases) {
    it(`refuses ${what} without the API key after its headers, with 99% of its body unsent`, async () => {
      const { status } = partialRequest(
        stack.apiUrl,
        { method: 'POST', path, headers: { 'content-type': type } },
        100 * MB,
        MB,
      );
      assert.equal(await status, 401);
    });
  }

  it('refuses a management call without the token before its body is read', async () => {
    const { status } = partialRequest(
      stack.managementUrl,
      {
        method: 'PUT',
        path: '/models/ag-news-bert/traffic',
        headers: { 'content-type': 'application/json' },
      },
      MB,
      1024,
    );
    assert.equal(await status, 401);
  });

  it('control: with the key, the same request is read to its end and judged on its body', async () => {
    const request = partialRequest(
      stack.apiUrl,
      {
        method: 'POST',
        path: '/v1/predictions',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
      },
      2048,
      1024,
    );
    request.finish();
    // The body is 2,048 bytes of "a": read whole, it is malformed JSON, not an auth failure.
    assert.equal(await request.status, 400);
  });

  it('control: with the token, a management body is read and judged', async () => {
    const request = partialRequest(
      stack.managementUrl,
      {
        method: 'PUT',
        path: '/models/ag-news-bert/traffic',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${MANAGEMENT_TOKEN}`,
        },
      },
      16,
      8,
    );
    request.finish();
    assert.equal(await request.status, 400);
  });
});
