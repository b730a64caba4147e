import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import {
  decodeResponse,
  encodeRequest,
  encodeTensorData,
  infer,
  postInfer,
} from '../support/binary-tensor-client';
import {
  BAD_REQUESTS,
  MAX_BODY_BYTES,
  assemble,
  assertProtocolError,
  binaryOf,
  good,
  json,
  routes,
  textInput,
} from '../support/binary-tensor-requests';
import { Stack } from '../support/stack';

/**
 * Triton's binary tensor data extension, refused: every malformed request is a 400 (a body over
 * MAX_BODY_BYTES a 413) in the protocol's error shape, and the server keeps answering.
 */
describe('bad binary requests: a 400 in the protocol error shape, the server unharmed', () => {
  let stack: Stack;

  before(async () => {
    stack = await Stack.start({ env: { MAX_BODY_BYTES: String(MAX_BODY_BYTES) } });
  });
  after(() => stack?.stop());

  it('control: the valid request every bad one is made from is answered', async () => {
    for (const url of routes(stack)) {
      const { body, headers } = good();
      const answer = await postInfer(url, body, headers);
      assert.equal(answer.status, 200, answer.body.toString());
      // The valid request rebuilt by the cases' own helpers is answered too.
      const rebuilt = assemble(json(body, headers), binaryOf());
      assert.equal((await postInfer(url, rebuilt.body, rebuilt.headers)).status, 200);
    }
  });

  for (const { title, make, error } of BAD_REQUESTS) {
    it(title, async () => {
      const { body, headers } = make();
      assertProtocolError(await postInfer(routes(stack)[0], body, headers), 400, error);
    });
  }

  it(`a body over MAX_BODY_BYTES (${MAX_BODY_BYTES}) is a 413, sent or once decoded; control: one under it is answered`, async () => {
    const [url] = routes(stack);
    const sized = (bytes: number) =>
      encodeRequest({ inputs: [textInput(true, ['oil '.repeat(bytes / 4)])] });
    const under = sized(MAX_BODY_BYTES / 2);
    const answer = await postInfer(url, under.body, under.headers);
    assert.equal(answer.status, 200, answer.body.toString());
    const over = sized(MAX_BODY_BYTES + 1024);
    assertProtocolError(await postInfer(url, over.body, over.headers), 413, /over the limit/);
    const zipped = await postInfer(url, gzipSync(over.body), {
      ...over.headers,
      'content-encoding': 'gzip',
    });
    assertProtocolError(zipped, 413, /decoded body is over the limit/);
  });

  it('mangled binary bodies (header length, sizes, bytes) are each answered or refused with a 400, never more', async () => {
    const [url] = routes(stack);
    const texts = fc.array(fc.string({ minLength: 1, maxLength: 8 }), {
      minLength: 1,
      maxLength: 3,
    });
    await fc.assert(
      fc.asyncProperty(
        texts,
        fc.integer({ min: -3, max: 3 }),
        fc.integer({ min: -3, max: 3 }),
        fc.uint8Array({ maxLength: 12 }),
        fc.boolean(),
        async (sent, lengthDelta, sizeDelta, extra, binaryOut) => {
          const data = encodeTensorData('BYTES', sent);
          const header = Buffer.from(
            JSON.stringify({
              inputs: [
                {
                  name: 'text',
                  datatype: 'BYTES',
                  shape: [sent.length],
                  parameters: { binary_data_size: data.length + sizeDelta },
                },
              ],
              parameters: { binary_data_output: binaryOut },
            }),
          );
          const answer = await postInfer(url, Buffer.concat([header, data, extra]), {
            'inference-header-content-length': String(header.length + lengthDelta),
          });
          const valid = lengthDelta === 0 && sizeDelta === 0 && extra.length === 0;
          const blank = sent.some((text) => text.trim() === '');
          if (valid && !blank) {
            assert.equal(answer.status, 200, answer.body.toString());
            const decoded = decodeResponse(
              answer.body,
              answer.headers.get('inference-header-content-length'),
            );
            assert.deepEqual(decoded.outputs[0].shape, [sent.length]);
          } else {
            assertProtocolError(answer, 400, /./);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('after every bad request the server still answers binary requests', async () => {
    const answer = await infer(routes(stack)[1], {
      inputs: [textInput(true)],
      parameters: { binary_data_output: true },
    });
    assert.equal(answer.binary.size, 3);
  });
});
