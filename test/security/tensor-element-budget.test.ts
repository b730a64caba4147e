import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Problem } from '../../apps/api/src/core/problem';
import { inferCallOfGrpc } from '../../apps/api/src/grpc/open-inference.grpc';
import { inferCallOfJson } from '../../apps/api/src/v2/infer-request';
import { encodeRawBytes } from '../../apps/api/src/v2/tensors';

/*
 * Many tiny elements: a 1 MiB body holds 262,144 empty BYTES elements, each decoded before the
 * request's texts were counted against MAX_TEXTS_PER_REQUEST. Each attack puts an element that
 * cannot be decoded just past the limit: a transport that decodes everything first answers that
 * element's 400; one that stops at the limit answers the 413 without reaching it. The control
 * (a limit above the bad element) shows the bad element is there to be reached.
 */
const MAX_TEXTS = 1000;
const INVALID_UTF8 = Buffer.from([4, 0, 0, 0, 0xff, 0xfe, 0xfd, 0xfc]);

/** MAX_TEXTS + 1 empty elements, then one that is not UTF-8, as raw BYTES. */
const raw = Buffer.concat([encodeRawBytes(Array<string>(MAX_TEXTS + 1).fill('')), INVALID_UTF8]);
const elements = MAX_TEXTS + 2;

function refusal(fn: () => unknown): Problem {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof Problem, String(error));
    return error;
  }
  assert.fail('the request was accepted');
}

/** A ModelInfer request of `inputs`, with their raw contents when given. */
function grpcRequest<Input>(inputs: Input[], rawInputContents: Buffer[] = []) {
  return {
    id: '',
    model_name: 'm',
    model_version: '',
    parameters: {},
    inputs,
    outputs: [],
    raw_input_contents: rawInputContents,
  };
}

function assertStopsAtLimit(call: (maxTexts: number) => unknown) {
  const refused = refusal(() => call(MAX_TEXTS));
  assert.equal(refused.getStatus(), 413, refused.detail);
  assert.match(refused.detail ?? '', /holds more than 1000 elements; the limit is 1000 texts/);
  const control = refusal(() => call(elements));
  assert.equal(control.getStatus(), 400);
  assert.match(control.detail ?? '', /element 1001 of input "text" is not valid UTF-8/);
}

describe('a tensor of more elements than a request may hold texts is refused before decoding', () => {
  it('REST, binary tensor data (control: a higher limit reaches the bad element)', () => {
    const request = {
      inputs: [
        {
          name: 'text',
          datatype: 'BYTES',
          shape: [elements],
          parameters: { binary_data_size: raw.length },
        },
      ],
    };
    assertStopsAtLimit((maxTexts) => inferCallOfJson(request, undefined, raw, maxTexts));
  });

  it('gRPC, raw_input_contents (control: a higher limit reaches the bad element)', () => {
    const request = grpcRequest(
      [{ name: 'text', datatype: 'BYTES', shape: [elements], parameters: {} }],
      [raw],
    );
    assertStopsAtLimit((maxTexts) => inferCallOfGrpc(request as never, maxTexts));
  });

  it('gRPC, contents.bytes_contents (control: a higher limit reaches the bad element)', () => {
    const bytes = [...Array<Buffer>(MAX_TEXTS + 1).fill(Buffer.alloc(0)), INVALID_UTF8.subarray(4)];
    const request = grpcRequest([
      {
        name: 'text',
        datatype: 'BYTES',
        shape: [elements],
        parameters: {},
        contents: { bytes_contents: bytes },
      },
    ]);
    const refused = refusal(() => inferCallOfGrpc(request, MAX_TEXTS));
    assert.equal(refused.getStatus(), 413, refused.detail);
    assert.match(refused.detail ?? '', /holds 1002 elements; the limit is 1000 texts/);
    const control = refusal(() => inferCallOfGrpc(request, elements));
    assert.match(control.detail ?? '', /element 1001 of input "text" is not valid UTF-8/);
  });
});

/*
 * The same elements split over two inputs, each under the limit: the budget is the request's,
 * for a body of many inputs (refused only once decoded) was decoded whole, MAX_TEXTS at a time.
 * The bad element is the second input's 401st, past the 1000 of both inputs together.
 */
describe('the element budget is the whole request, not each of its inputs', () => {
  const first = encodeRawBytes(Array<string>(600).fill(''));
  const second = Buffer.concat([encodeRawBytes(Array<string>(400).fill('')), INVALID_UTF8]);
  const splitInputs = (sizes: number[]) =>
    sizes.map((size) => ({
      name: 'text',
      datatype: 'BYTES',
      shape: [size],
      parameters: { binary_data_size: size },
    }));

  function assertBudgetShared(call: (maxTexts: number) => unknown) {
    const refused = refusal(() => call(MAX_TEXTS));
    assert.equal(refused.getStatus(), 413, refused.detail);
    assert.match(refused.detail ?? '', /the limit is 1000 texts/);
    // Control: with room for both inputs the bad element is reached, so it was there to reach.
    const control = refusal(() => call(elements));
    assert.match(control.detail ?? '', /element 400 of input "text" is not valid UTF-8/);
  }

  it('REST, binary tensor data in two inputs', () => {
    const request = { inputs: splitInputs([first.length, second.length]) };
    const binary = Buffer.concat([first, second]);
    assertBudgetShared((maxTexts) => inferCallOfJson(request, undefined, binary, maxTexts));
  });

  it('gRPC, raw_input_contents of two inputs', () => {
    const request = grpcRequest(
      splitInputs([600, 401]).map((input) => ({ ...input, parameters: {} })),
      [first, second],
    );
    assertBudgetShared((maxTexts) => inferCallOfGrpc(request as never, maxTexts));
  });

  it('gRPC, contents.bytes_contents of two inputs', () => {
    const bytes = (count: number) => Array<Buffer>(count).fill(Buffer.alloc(0));
    const request = grpcRequest(
      [
        { contents: { bytes_contents: bytes(600) } },
        { contents: { bytes_contents: [...bytes(400), INVALID_UTF8.subarray(4)] } },
      ].map((input, i) => ({
        ...input,
        name: 'text',
        datatype: 'BYTES',
        shape: [i ? 401 : 600],
        parameters: {},
      })),
    );
    assertBudgetShared((maxTexts) => inferCallOfGrpc(request, maxTexts));
  });
});
