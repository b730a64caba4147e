import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Problem } from '../core/problem';
import { inferCallOfGrpc } from '../grpc/open-inference.grpc';
import { inferCallOfJson } from './infer-request';
import {
  decodeRawBytes,
  encodeRawBytes,
  encodeRawTensor,
  outputTensors,
  selectOutputs,
  textsOfInputs,
} from './tensors';

/** Asserts `fn` throws a 400 whose detail matches `pattern`. */
function assertBadRequest(fn: () => unknown, pattern: RegExp) {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof Problem);
    assert.equal(error.getStatus(), 400);
    assert.match(error.detail ?? '', pattern);
    return true;
  });
}

const textInput = (data: unknown[], shape = [data.length]) => ({
  name: 'text',
  datatype: 'BYTES',
  shape,
  data,
});

describe('selectOutputs', () => {
  it('answers label, label_name and probability by default, probabilities when asked', () => {
    assert.deepEqual(selectOutputs(undefined, undefined), ['label', 'label_name', 'probability']);
    assert.deepEqual(selectOutputs([], 'true').at(-1), 'probabilities');
    assert.deepEqual(selectOutputs(undefined, true).length, 4);
  });

  it('answers the named outputs in the model order, and refuses unknown names', () => {
    assert.deepEqual(selectOutputs(['probabilities', 'label'], undefined), [
      'label',
      'probabilities',
    ]);
    assertBadRequest(() => selectOutputs(['logits'], undefined), /unknown output "logits"/);
  });
});

describe('textsOfInputs', () => {
  it('reads one BYTES input named text whose shape matches its data', () => {
    assert.deepEqual(textsOfInputs([textInput(['a', 'b'])]), ['a', 'b']);
    assert.deepEqual(textsOfInputs([textInput(['a', 'b'], [2, 1])]), ['a', 'b']);
  });

  it('says what is wrong with any other input', () => {
    assertBadRequest(() => textsOfInputs([]), /expected one input tensor "text"/);
    assertBadRequest(() => textsOfInputs([{ ...textInput(['a']), name: 'x' }]), /unknown input/);
    assertBadRequest(
      () => textsOfInputs([{ ...textInput([1]), datatype: 'INT64' }]),
      /datatype BYTES/,
    );
    assertBadRequest(() => textsOfInputs([textInput(['a'], [2])]), /shape \[2\] but 1/);
    assertBadRequest(() => textsOfInputs([textInput([1])]), /element 0 .* must be a string/);
  });
});

describe('raw BYTES tensors', () => {
  it('round-trip texts, multi-byte ones and empty ones included', () => {
    const texts = ['Stocks fall', 'Zürich — 東京', ''];
    assert.deepEqual(decodeRawBytes(encodeRawBytes(texts)), texts);
  });

  it('refuse contents cut short and bytes that are not UTF-8', () => {
    assertBadRequest(() => decodeRawBytes(Buffer.from([5, 0, 0, 0, 65])), /cut short at byte 0/);
    assertBadRequest(() => decodeRawBytes(Buffer.from([1, 0])), /cut short/);
    assertBadRequest(() => decodeRawBytes(Buffer.from([1, 0, 0, 0, 0xff])), /not valid UTF-8/);
  });

  it('encode INT64 and FP32 outputs as little-endian values', () => {
    const label = encodeRawTensor({ name: 'label', datatype: 'INT64', shape: [2], data: [3, 1] });
    assert.deepEqual([label.readBigInt64LE(0), label.readBigInt64LE(8)], [3n, 1n]);
    const p = encodeRawTensor({ name: 'probability', datatype: 'FP32', shape: [1], data: [0.5] });
    assert.equal(p.readFloatLE(0), 0.5);
  });
});

describe('outputTensors', () => {
  it('shapes each output [n], and probabilities [n, k] row-major', () => {
    const results = [
      { label: 1, label_name: 'Sports', probability: 0.7, probabilities: [0.1, 0.7, 0.2] },
      { label: 2, label_name: 'Business', probability: 0.6, probabilities: [0.1, 0.3, 0.6] },
    ];
    const [label, probabilities] = outputTensors(results, ['label', 'probabilities']);
    assert.deepEqual(label, { name: 'label', datatype: 'INT64', shape: [2], data: [1, 2] });
    assert.deepEqual(probabilities.shape, [2, 3]);
    assert.deepEqual(probabilities.data, [0.1, 0.7, 0.2, 0.1, 0.3, 0.6]);
  });
});

describe('inference requests', () => {
  it('REST: flattens nested data, keeps the id, reads the probabilities parameter', () => {
    const call = inferCallOfJson({
      id: '42',
      parameters: { probabilities: true },
      inputs: [textInput([['a'], ['b']], [2, 1])],
    });
    assert.deepEqual(call, {
      id: '42',
      texts: ['a', 'b'],
      outputs: ['label', 'label_name', 'probability', 'probabilities'],
    });
    assertBadRequest(() => inferCallOfJson({ data: ['a'] }), /inputs: /);
  });

  it('gRPC: reads typed or raw contents, never both', () => {
    const request = {
      model_name: 'm',
      model_version: '',
      id: '',
      parameters: { probabilities: { parameter_choice: 'bool_param', bool_param: true } },
      inputs: [
        {
          name: 'text',
          datatype: 'BYTES',
          shape: [1],
          contents: { bytes_contents: [Buffer.from('a')] },
        },
      ],
      outputs: [],
      raw_input_contents: [],
    };
    assert.deepEqual(inferCallOfGrpc(request), {
      id: undefined,
      texts: ['a'],
      outputs: ['label', 'label_name', 'probability', 'probabilities'],
    });
    const raw = { ...request, inputs: [{ ...request.inputs[0], contents: null }] };
    assert.deepEqual(
      inferCallOfGrpc({ ...raw, raw_input_contents: [encodeRawBytes(['b'])] }).texts,
      ['b'],
    );
    assertBadRequest(
      () => inferCallOfGrpc({ ...request, raw_input_contents: [encodeRawBytes(['b'])] }),
      /not both/,
    );
  });
});
