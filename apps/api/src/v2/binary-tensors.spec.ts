import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Problem } from '../core/problem';
import { assertBadRequest } from '../core/problem.harness';
import { binaryAnswer, binaryOutputsOf, inputsWithData, splitInferBody } from './binary-tensors';
import { inferCallOfJson } from './infer-request';
import { encodeRawBytes } from './tensors';

const binaryInput = (size: unknown, shape = [2]) => ({
  name: 'text',
  datatype: 'BYTES',
  shape,
  parameters: { binary_data_size: size },
});

describe('splitInferBody', () => {
  const json = Buffer.from('{"a":1}');
  const body = Buffer.concat([json, Buffer.from([1, 2, 3])]);

  it('reads the JSON header of Inference-Header-Content-Length bytes, the rest as binary', () => {
    const { json: header, binary } = splitInferBody(body, String(json.length));
    assert.deepEqual(header, { a: 1 });
    assert.deepEqual([...binary], [1, 2, 3]);
  });

  it('reads a body without the header as JSON, naming the header when that fails', () => {
    assert.deepEqual(splitInferBody(json).json, { a: 1 });
    assert.equal(splitInferBody(undefined).json, undefined);
    assert.throws(
      () => splitInferBody(body),
      (e: unknown) => e instanceof Problem && /Inference-Header-Content-Length/.test(e.detail!),
    );
  });

  it('refuses a header length past the body or not a number', () => {
    assertBadRequest(() => splitInferBody(body, String(body.length + 1)), /holds only 10 byte/);
    for (const bad of ['', '-1', '1.5', '0x10', 'ten']) {
      assertBadRequest(() => splitInferBody(body, bad), /must be the JSON header's length/);
    }
  });
});

const raw = encodeRawBytes(['Oil prices', 'Café']);

describe('inputsWithData', () => {
  it('cuts each binary input from the binary data in order and decodes BYTES', () => {
    const inputs = [
      binaryInput(raw.length),
      { name: 'b', datatype: 'BYTES', shape: [1], data: ['json'] },
      binaryInput(4, [1]),
    ];
    const binary = Buffer.concat([raw, encodeRawBytes([''])]);
    assert.deepEqual(
      inputsWithData(inputs, binary).map((i) => i.data),
      [['Oil prices', 'Café'], ['json'], ['']],
    );
  });

  it('refuses sizes that do not add up to the binary data, both data and size, or neither', () => {
    assertBadRequest(() => inputsWithData([binaryInput(raw.length - 1)], raw), /add up to/);
    assertBadRequest(() => inputsWithData([binaryInput(raw.length + 1)], raw), /add up to/);
    assertBadRequest(
      () => inputsWithData([{ ...binaryInput(raw.length), data: ['a'] }], raw),
      /both "data" and a "binary_data_size"/,
    );
    assertBadRequest(
      () => inputsWithData([{ name: 'text', datatype: 'BYTES', shape: [1] }], raw),
      /has no data/,
    );
    for (const size of [-1, 1.5, '14', true]) {
      assertBadRequest(() => inputsWithData([binaryInput(size)], raw), /whole number of bytes/);
    }
  });

  it('refuses a BYTES length prefix past the data', () => {
    const bad = Buffer.from(raw);
    bad.writeUInt32LE(1000, 0);
    assertBadRequest(() => inputsWithData([binaryInput(bad.length)], bad), /cut short at byte 0/);
  });
});

describe('binaryOutputsOf', () => {
  const all = ['label', 'label_name', 'probability'] as const;

  it('answers none in binary unless asked, all with binary_data_output, each as it says', () => {
    assert.deepEqual(binaryOutputsOf([...all], undefined), []);
    assert.deepEqual(binaryOutputsOf([...all], true), [...all]);
    assert.deepEqual(
      binaryOutputsOf([...all], undefined, [{ name: 'label', parameters: { binary_data: true } }]),
      ['label'],
    );
    assert.deepEqual(
      binaryOutputsOf([...all], true, [{ name: 'label', parameters: { binary_data: false } }]),
      ['label_name', 'probability'],
    );
  });

  it('refuses parameters that are not booleans', () => {
    assertBadRequest(() => binaryOutputsOf([...all], 'true'), /"binary_data_output"/);
    assertBadRequest(
      () => binaryOutputsOf([...all], true, [{ name: 'label', parameters: { binary_data: 1 } }]),
      /"binary_data" parameter of output "label"/,
    );
  });

  it('is what inferCallOfJson answers for a request', () => {
    const call = inferCallOfJson(
      { inputs: [binaryInput(raw.length)], parameters: { binary_data_output: true } },
      undefined,
      raw,
    );
    assert.deepEqual(call.texts, ['Oil prices', 'Café']);
    assert.deepEqual(call.binaryOutputs, [...all]);
    assert.equal(inferCallOfJson({ inputs: [binaryInput(0, [0])] }).binaryOutputs, undefined);
  });
});

describe('binaryAnswer', () => {
  it('strips binary outputs of data, sizes them, and appends their bytes in order', () => {
    const answer = {
      model_name: 'm',
      model_version: '1',
      outputs: [
        { name: 'label' as const, datatype: 'INT64' as const, shape: [2], data: [3, 1] },
        { name: 'label_name' as const, datatype: 'BYTES' as const, shape: [2], data: ['a', 'b'] },
        { name: 'probability' as const, datatype: 'FP32' as const, shape: [2], data: [0.5, 0.25] },
      ],
    };
    const { headerLength, body } = binaryAnswer(answer, ['label', 'probability']);
    const header = JSON.parse(body.subarray(0, headerLength).toString()) as { outputs: unknown[] };
    assert.deepEqual(header.outputs, [
      { name: 'label', datatype: 'INT64', shape: [2], parameters: { binary_data_size: 16 } },
      answer.outputs[1],
      { name: 'probability', datatype: 'FP32', shape: [2], parameters: { binary_data_size: 8 } },
    ]);
    const binary = body.subarray(headerLength);
    assert.equal(binary.length, 24);
    assert.deepEqual([binary.readBigInt64LE(0), binary.readBigInt64LE(8)], [3n, 1n]);
    assert.deepEqual([binary.readFloatLE(16), binary.readFloatLE(20)], [0.5, 0.25]);
  });
});
