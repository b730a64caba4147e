import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import {
  decodeResponse,
  encodeRequest,
  infer,
  postInfer,
  type ClientOutput,
  type ClientRequest,
  type ClientTensor,
} from '../support/binary-tensor-client';
import { MAX_BODY_BYTES, MODEL, TEXTS, routes, textInput } from '../support/binary-tensor-requests';
import { Stack } from '../support/stack';

/**
 * Triton's binary tensor data extension on `/v2/models/{name}[/versions/{v}]/infer`, checked with
 * a client written from the extension's document (test/support/binary-tensor-client.ts): every
 * combination of binary inputs and binary outputs answers what the JSON form answers. What it
 * refuses: open-inference-binary-errors.test.ts.
 */

const ALL_OUTPUTS = ['label', 'label_name', 'probability', 'probabilities'];

/** How a request asks for its outputs: which it names, and which should come back in binary. */
interface OutputMode {
  title: string;
  outputs?: ClientOutput[];
  parameters?: Record<string, boolean>;
  /** The outputs the document says are answered in binary. */
  binary: string[];
}

const OUTPUT_MODES: OutputMode[] = [
  { title: 'no binary outputs (default outputs)', binary: [] },
  {
    title: 'no binary outputs (all named, binary_data false)',
    outputs: ALL_OUTPUTS.map((name) => ({ name, binary: false })),
    binary: [],
  },
  {
    title: 'all binary via binary_data_output, no outputs named (tritonclient default)',
    parameters: { binary_data_output: true },
    binary: ['label', 'label_name', 'probability'],
  },
  {
    title: 'all binary via binary_data_output, all named',
    outputs: ALL_OUTPUTS.map((name) => ({ name })),
    parameters: { binary_data_output: true },
    binary: ALL_OUTPUTS,
  },
  {
    title: 'all binary via per-output binary_data (tritonclient with outputs)',
    outputs: ALL_OUTPUTS.map((name) => ({ name, binary: true })),
    binary: ALL_OUTPUTS,
  },
  {
    title: 'some binary via per-output binary_data',
    outputs: [
      { name: 'label', binary: true },
      { name: 'label_name' },
      { name: 'probabilities', binary: true },
    ],
    binary: ['label', 'probabilities'],
  },
  {
    title: 'binary_data_output overridden by one output binary_data false',
    outputs: ALL_OUTPUTS.map((name) =>
      name === 'label_name' ? { name, binary: false } : { name },
    ),
    parameters: { binary_data_output: true },
    binary: ['label', 'probability', 'probabilities'],
  },
];

/** Elements comparable with JSON's: INT64 as numbers. */
const plain = (data: unknown[]) => data.map((x) => (typeof x === 'bigint' ? Number(x) : x));

/**
 * Asserts the outputs of a binary answer are those of the JSON answer: same names, datatypes,
 * shapes, INT64 and BYTES equal; FP32 as 4-byte floats (exactly representable) within 1e-5 of
 * the JSON's (the same texts may be batched apart, with other padding).
 */
function assertSameOutputs(actual: ClientTensor[], expected: ClientTensor[], binary: Set<string>) {
  assert.deepEqual(
    actual.map((o) => [o.name, o.datatype, o.shape]),
    expected.map((o) => [o.name, o.datatype, o.shape]),
  );
  for (const [i, output] of actual.entries()) {
    const want = expected[i].data as number[];
    const got = plain(output.data);
    if (output.datatype !== 'FP32') {
      assert.deepEqual(got, want, output.name);
      continue;
    }
    assert.equal(got.length, want.length, output.name);
    got.forEach((value, j) => {
      assert.equal(typeof value, 'number', `${output.name}[${j}]`);
      if (binary.has(output.name)) assert.equal(Math.fround(value as number), value);
      assert.ok(
        Math.abs((value as number) - want[j]) < 1e-5,
        `${output.name}[${j}]: ${String(value)}`,
      );
    });
  }
}

describe('Open Inference Protocol: binary tensor data extension (REST)', () => {
  let stack: Stack;

  before(async () => {
    stack = await Stack.start({ env: { MAX_BODY_BYTES: String(MAX_BODY_BYTES) } });
  });
  after(() => stack?.stop());

  it('server metadata lists binary_tensor_data among its extensions', async () => {
    const { status, body } = await stack.request('GET', '/v2');
    assert.equal(status, 200);
    assert.ok(body.extensions.includes('binary_tensor_data'), JSON.stringify(body));
  });

  for (const binaryInput of [false, true]) {
    for (const [m, mode] of OUTPUT_MODES.entries()) {
      it(`inputs ${binaryInput ? 'binary' : 'JSON'}, ${mode.title}: the JSON form's answers`, async () => {
        const url = routes(stack)[m % 2];
        const json = await infer(url, {
          inputs: [textInput(false)],
          outputs: mode.outputs?.map(({ name }) => ({ name })),
        });
        assert.equal(json.binary.size, 0, 'the JSON form is answered in JSON');
        assert.equal(json.headers.get('inference-header-content-length'), null);

        const request: ClientRequest = {
          id: `combo-${m}`,
          inputs: [textInput(binaryInput)],
          outputs: mode.outputs,
          parameters: mode.parameters,
        };
        const answer = await infer(url, request);
        assert.deepEqual([...answer.binary].sort(), [...mode.binary].sort());
        assert.equal(answer.json.id, `combo-${m}`);
        assert.equal(answer.json.model_name, MODEL);
        assert.equal(answer.json.model_version, '1');
        if (mode.binary.length) {
          assert.equal(answer.headers.get('content-type'), 'application/octet-stream');
          assert.ok(answer.headers.get('inference-header-content-length'));
        } else {
          assert.equal(answer.headers.get('inference-header-content-length'), null);
          assert.match(answer.headers.get('content-type') ?? '', /^application\/json/);
        }
        assertSameOutputs(answer.outputs, json.outputs, answer.binary);
      });
    }
  }

  it('a binary input is read whatever the Content-Type: none, octet-stream, JSON; gzip too', async () => {
    const [url] = routes(stack);
    const reference = await infer(url, { inputs: [textInput(false)] });
    const request = { inputs: [textInput(true)], parameters: { binary_data_output: true } };
    for (const type of [undefined, 'application/octet-stream', 'application/json']) {
      const answer = await infer(url, request, type ? { 'content-type': type } : {});
      assertSameOutputs(answer.outputs, reference.outputs, answer.binary);
    }
    const { body, headers } = encodeRequest(request);
    const zipped = await postInfer(url, gzipSync(body), { ...headers, 'content-encoding': 'gzip' });
    assert.equal(zipped.status, 200, zipped.body.toString());
    const answer = decodeResponse(
      zipped.body,
      zipped.headers.get('inference-header-content-length'),
    );
    assertSameOutputs(answer.outputs, reference.outputs, answer.binary);
  });

  it('a binary input of shape [2, 2] holds its four texts row-major', async () => {
    const [url] = routes(stack);
    const flat = await infer(url, { inputs: [textInput(false)] });
    const square = await infer(url, { inputs: [textInput(true, TEXTS, [2, 2])] });
    assertSameOutputs(square.outputs, flat.outputs, square.binary);
  });
});
