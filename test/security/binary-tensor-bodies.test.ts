import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { Stack } from '../support/stack';

/*
 * Triton's binary tensor data on /v2/models/{name}/infer as an attacker sends it: compressed
 * bombs, many tiny elements, lengths that do not fit, and binary outputs asked for on an error.
 * Each refusal has a control, the same shape of body that is read (a bad element reached, a 400
 * that names it), so a refusal is the limit's and not an accident of the body.
 */
const HEADER = 'inference-header-content-length';

/** Raw BYTES elements: each a 4-byte little-endian length and its bytes. */
function rawBytes(elements: Buffer[]): Buffer {
  return Buffer.concat(
    elements.flatMap((bytes) => {
      const length = Buffer.alloc(4);
      length.writeUInt32LE(bytes.length);
      return [length, bytes];
    }),
  );
}

/** A body of one binary `text` input holding `raw`, and its header's length. */
function binaryBody(raw: Buffer, elements: number, parameters: Record<string, unknown> = {}) {
  const json = Buffer.from(
    JSON.stringify({
      inputs: [
        {
          name: 'text',
          datatype: 'BYTES',
          shape: [elements],
          parameters: { binary_data_size: raw.length },
        },
      ],
      parameters,
    }),
  );
  return { body: Buffer.concat([json, raw]), headerLength: json.length };
}

const NOT_UTF8 = Buffer.from([0xff, 0xfe]);

describe('v2 binary tensor bodies from an attacker', () => {
  let stack: Stack;

  before(async () => {
    stack = await Stack.start({ workers: 0, waitHealthy: false });
  });
  after(async () => {
    await stack?.stop();
  });

  async function infer(body: Buffer, headers: Record<string, string>) {
    const response = await fetch(`${stack.apiUrl}/v2/models/ag-news-bert/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', ...headers },
      body,
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, text };
  }

  /** Asserts a refusal in the protocol's error shape, JSON, with no binary answer header. */
  function assertRefused(
    answer: { status: number; headers: Headers; text: string },
    status: number,
    detail: RegExp,
  ) {
    assert.equal(answer.status, status, answer.text);
    assert.match(answer.headers.get('content-type') ?? '', /json/);
    assert.equal(answer.headers.get(HEADER), null, 'an error answered as binary tensor data');
    assert.match((JSON.parse(answer.text) as { error: string }).error, detail);
  }

  it('refuses a gzip bomb once decoded past MAX_BODY_BYTES (control: a small gzipped body is read)', async () => {
    // 64 MiB of empty elements (zero bytes) in about 64 KiB of gzip.
    const raw = Buffer.alloc(64 * 1024 * 1024);
    const bomb = binaryBody(raw, raw.length / 4);
    const packed = gzipSync(bomb.body, { level: 9 });
    assert.ok(packed.length < 1024 * 1024, 'the bomb is under the limit as sent');
    const headers = { 'content-encoding': 'gzip', [HEADER]: String(bomb.headerLength) };
    assertRefused(await infer(packed, headers), 413, /decoded body is over the limit/);

    const small = binaryBody(rawBytes([Buffer.from('fine'), NOT_UTF8]), 2, {
      binary_data_output: true,
    });
    const read = await infer(gzipSync(small.body), {
      'content-encoding': 'gzip',
      [HEADER]: String(small.headerLength),
    });
    assertRefused(read, 400, /element 1 of input "text" is not valid UTF-8/);
  });

  it('refuses many tiny elements before decoding them all (control: under the limit, the bad element is reached)', async () => {
    // 261,000 empty elements and one that is not UTF-8: a body just under 1 MiB.
    const elements = [...Array<Buffer>(261_000).fill(Buffer.alloc(0)), NOT_UTF8];
    const many = binaryBody(rawBytes(elements), elements.length);
    assertRefused(
      await infer(many.body, { [HEADER]: String(many.headerLength) }),
      413,
      /holds more than 1000 elements; the limit is 1000 texts/,
    );
    const few = binaryBody(rawBytes(elements.slice(-3)), 3);
    assertRefused(
      await infer(few.body, { [HEADER]: String(few.headerLength) }),
      400,
      /element 2 of input "text" is not valid UTF-8/,
    );
  });

  it('refuses header lengths that do not fit the body, and lengths that lie about the binary data', async () => {
    const ok = binaryBody(rawBytes([Buffer.from('a')]), 1, { binary_data_output: true });
    for (const length of [
      '99999999999999999999',
      '-1',
      '1e3',
      '0x10',
      String(ok.body.length + 1),
    ]) {
      const answer = await infer(ok.body, { [HEADER]: length });
      assertRefused(answer, 400, /Inference-Header-Content-Length/);
    }
    // A BYTES length prefix far past the body's end.
    const lying = Buffer.alloc(8);
    lying.writeUInt32LE(0xffffffff);
    const cut = binaryBody(lying, 1, { binary_data_output: true });
    assertRefused(
      await infer(cut.body, { [HEADER]: String(cut.headerLength) }),
      400,
      /cut short at byte 0/,
    );
  });
});
