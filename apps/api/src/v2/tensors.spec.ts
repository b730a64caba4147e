import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertBadRequest } from '../core/problem.harness';
import { inferCallOfGrpc } from '../grpc/open-inference.grpc';
import { inferCallOfJson } from './infer-request';
import {
  decodeRawBytes,
  elementsOf,
  encodeRawBytes,
  encodeRawTensor,
  outputTensors,
  selectOutputs,
  textsOfInputs,
} from './tensors';

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

describe('elementsOf', () => {
  const deep = (depth: number): unknown[] => {
    let data: unknown[] = ['a'];
    for (let i = 1; i < depth; i++) data = [data];
    return data;
  };

  it('reads data flat, or nested exactly as the shape', () => {
    assert.deepEqual(elementsOf(['a', 'b', 'c', 'd'], [2, 2]), ['a', 'b', 'c', 'd']);
    assert.deepEqual(
      elementsOf(
        [
          ['a', 'b'],
          ['c', 'd'],
        ],
        [2, 2],
      ),
      ['a', 'b', 'c', 'd'],
    );
    assert.deepEqual(elementsOf(deep(50), Array<number>(50).fill(1)), ['a']);
  });

  it('refuses data nested deeper than the shape, however deep, with a 400', () => {
    assertBadRequest(() => elementsOf(deep(3), [1]), /nested deeper than the shape's 1 level/);
    assertBadRequest(() => elementsOf(deep(100_000), [1]), /nested deeper/);
  });

  it('refuses nesting that does not follow the shape', () => {
    assertBadRequest(() => elementsOf([['a', 'b']], [2, 1]), /depth 1 it holds 1 item\(s\), not 2/);
    assertBadRequest(() => elementsOf([['a'], 'b'], [2, 1]), /depth 2 it holds an element/);
    assertBadRequest(() => elementsOf([['a'], ['b']], [2]), /nested deeper/);
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

  it('REST and gRPC refuse the same shapes with the same words', () => {
    const grpcRequest = (shape: number[]) => ({
      model_name: 'm',
      model_version: '',
      id: '',
      parameters: {},
      inputs: [
        {
          name: 'text',
          datatype: 'BYTES',
          shape,
          contents: { bytes_contents: [Buffer.from('a')] },
        },
      ],
      outputs: [],
      raw_input_contents: [],
    });
    for (const shape of [[-1, -1], [-1], [0.5, 2], [2 ** 53, 1], []]) {
      const pattern = /has shape \[.*\]: a shape is one or more whole dimensions, each 0 or more/;
      assertBadRequest(() => inferCallOfJson({ inputs: [textInput(['a'], shape)] }), pattern);
      assertBadRequest(() => inferCallOfGrpc(grpcRequest(shape)), pattern);
    }
    // Control: the shape [1, 1] of one element passes both.
    assert.deepEqual(inferCallOfJson({ inputs: [textInput(['a'], [1, 1])] }).texts, ['a']);
    assert.deepEqual(inferCallOfGrpc(grpcRequest([1, 1])).texts, ['a']);
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
