import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { text } from 'node:stream/consumers';
import { after, before, describe, it } from 'node:test';
import { Stack } from '../support/stack';

const MiB = 1024 * 1024;
const MAX_BODY_BYTES = 4 * MiB;
const BOUNDARY = 'modelfleet-test-boundary';

interface Part {
  name: string;
  value: Buffer;
  /** A file part (`filename=` given), else a field. */
  file?: boolean;
}

/** The bytes of one part of a multipart form, in the order they are sent. */
function encodePart({ name, value, file }: Part): Buffer[] {
  const filename = file ? `; filename="${name}.txt"` : '';
  const head = `--${BOUNDARY}\r\ncontent-disposition: form-data; name="${name}"${filename}\r\n\r\n`;
  return [Buffer.from(head), value, Buffer.from('\r\n')];
}

/**
 * Posts a multipart form one part at a time, each written once the socket took the one before,
 * and stops writing as soon as an answer comes. Resolves with the answer, and the bytes of the
 * body written by then out of the whole.
 */
async function sendForm(url: string, parts: Part[]) {
  const chunks = [...parts.flatMap(encodePart), Buffer.from(`--${BOUNDARY}--\r\n`)];
  const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  const call = request(url, {
    method: 'POST',
    headers: {
      'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
      'content-length': total,
    },
  });
  let answered = false;
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    call.once('response', (answer: IncomingMessage) => {
      answered = true;
      resolve(answer);
    });
    call.once('error', reject);
  });
  let written = 0;
  for (const chunk of chunks) {
    if (answered) break;
    await new Promise<void>((resolve, reject) =>
      call.write(chunk, (error) => (error ? reject(error) : resolve())),
    );
    written += chunk.length;
  }
  if (written === total) call.end();
  const answer = await response;
  const body = await text(answer);
  call.destroy();
  return { status: answer.statusCode, type: answer.headers['content-type'], body, written, total };
}

/** Fields (or files) of 1 MiB each, which hold no text to classify; all share one buffer. */
const MIB_OF_X = Buffer.alloc(MiB, 'x');
const padding = (count: number): Part[] =>
  Array.from({ length: count }, (_, i) => ({ name: `padding${i}`, value: MIB_OF_X }));
const data: Part = { name: 'data', value: Buffer.from('Stocks rally as the central bank holds') };

describe('a multipart body is counted whole as it streams', () => {
  let stack: Stack;

  before(async () => {
    stack = await Stack.start({ env: { MAX_BODY_BYTES: String(MAX_BODY_BYTES) } });
  });

  after(async () => {
    await stack?.stop();
  });

  // 62 parts of 1 MiB and the data field: under the 64 parts a form may hold, each part under
  // the limit, the whole 15 times over it.
  for (const [what, parts] of [
    ['fields', padding(62)],
    ['files', padding(62).map((part) => ({ ...part, file: true }))],
  ] as const) {
    it(`refuses 62 ${what} of 1 MiB with a 413 while the client is still sending`, async () => {
      const sent = await sendForm(`${stack.apiUrl}/predictions/ag-news-bert`, [data, ...parts]);
      assert.equal(sent.status, 413, sent.body);
      assert.match(sent.type ?? '', /application\/problem\+json/);
      assert.match(JSON.parse(sent.body).detail, new RegExp(`limit of ${MAX_BODY_BYTES} bytes`));
      // The answer came before the body was all written: the server stopped reading at the limit
      // rather than reading every part first.
      assert.ok(sent.written < sent.total, `${sent.written} of ${sent.total} bytes were written`);
    });
  }

  it('control: the same form under the limit is read to its end and answered', async () => {
    const sent = await sendForm(`${stack.apiUrl}/predictions/ag-news-bert`, [data, ...padding(3)]);
    assert.equal(sent.status, 200, sent.body);
    assert.equal(sent.written, sent.total);
    assert.equal(typeof JSON.parse(sent.body).label_name, 'string');
  });

  it('keeps answering after refusing', async () => {
    assert.equal((await fetch(`${stack.apiUrl}/healthz`)).status, 200);
  });
});
