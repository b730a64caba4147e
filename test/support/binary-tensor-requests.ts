import assert from 'node:assert/strict';
import {
  encodeRequest,
  encodeTensorData,
  type ClientInput,
  type RawAnswer,
} from './binary-tensor-client';
import type { Stack } from './stack';
import { agNewsSample } from './texts';

/**
 * What the tests of Triton's binary tensor data extension (test/compat/open-inference-binary*)
 * send: the model, the texts, the routes, and the malformed requests made from a valid one, each
 * with the error the protocol's answer must name.
 */

export const MODEL = 'ag-news-bert';
export const MAX_BODY_BYTES = 65_536;
/** AG News texts and one of multi-byte UTF-8 (accents, an emoji: 4 bytes). */
export const TEXTS = [
  ...agNewsSample(3),
  'Café owners in Zürich cheer the 🚀 launch of a new stock index',
];

export const routes = (stack: Stack) => [
  `${stack.apiUrl}/v2/models/${MODEL}/infer`,
  `${stack.apiUrl}/v2/models/${MODEL}/versions/1/infer`,
];

export const textInput = (binary: boolean, texts = TEXTS, shape = [texts.length]): ClientInput => ({
  name: 'text',
  datatype: 'BYTES',
  shape,
  data: texts,
  binary,
});

/** Asserts an answer is a 400 in the protocol's error shape, its message matching `pattern`. */
export function assertProtocolError(answer: RawAnswer, status: number, pattern: RegExp) {
  const text = answer.body.toString('utf8');
  assert.equal(answer.status, status, text);
  assert.match(answer.headers.get('content-type') ?? '', /^application\/json/);
  const body = JSON.parse(text) as { error: string };
  assert.deepEqual(Object.keys(body), ['error']);
  assert.match(body.error, pattern);
}

/** The valid request every bad one is made from, and its parts. */
export const good = () => encodeRequest({ inputs: [textInput(true)] });
export const json = (body: Buffer, headers: Record<string, string>) =>
  JSON.parse(body.subarray(0, Number(headers['inference-header-content-length'])).toString());
/** A body of this JSON header and binary data, with a correct header length. */
export const assemble = (header: unknown, binary: Buffer, length?: string) => {
  const head = Buffer.from(JSON.stringify(header));
  return {
    body: Buffer.concat([head, binary]),
    headers: { 'inference-header-content-length': length ?? String(head.length) },
  };
};
export const binaryOf = () => encodeTensorData('BYTES', TEXTS);
const withSize = (size: unknown) => ({
  inputs: [
    {
      name: 'text',
      datatype: 'BYTES',
      shape: [TEXTS.length],
      parameters: { binary_data_size: size },
    },
  ],
});

/** Requests made from the valid one, each broken in one way, and what the 400 must say. */
export const BAD_REQUESTS: {
  title: string;
  make: () => { body: Buffer; headers: Record<string, string> };
  error: RegExp;
}[] = [
  {
    title: 'Inference-Header-Content-Length beyond the body',
    make: () => {
      const { body } = good();
      return { body, headers: { 'inference-header-content-length': String(body.length + 1) } };
    },
    error: /Inference-Header-Content-Length is \d+ but the body holds only \d+ byte/,
  },
  {
    title: 'Inference-Header-Content-Length not a number',
    make: () => ({ ...good(), headers: { 'inference-header-content-length': '-12' } }),
    error: /Inference-Header-Content-Length must be the JSON header's length/,
  },
  {
    title: 'Inference-Header-Content-Length cutting the JSON short',
    make: () => {
      const { body, headers } = good();
      const length = Number(headers['inference-header-content-length']) - 1;
      return { body, headers: { 'inference-header-content-length': String(length) } };
    },
    error: /JSON/,
  },
  {
    title: 'binary data without Inference-Header-Content-Length',
    make: () => ({ body: good().body, headers: {} }),
    error: /needs an Inference-Header-Content-Length header/,
  },
  {
    title: 'binary_data_size smaller than the binary data',
    make: () => {
      const binary = binaryOf();
      return assemble(withSize(binary.length - 1), binary);
    },
    error: /add up to \d+ byte\(s\), but \d+ byte\(s\) of binary data follow/,
  },
  {
    title: 'binary_data_size larger than the binary data',
    make: () => {
      const binary = binaryOf();
      return assemble(withSize(binary.length + 1), binary);
    },
    error: /add up to \d+ byte\(s\), but \d+ byte\(s\) of binary data follow/,
  },
  {
    title: 'binary_data_size on an input of a body that is all JSON',
    make: () => ({
      body: assemble(withSize(8), Buffer.alloc(0)).body,
      headers: { 'content-type': 'application/json' },
    }),
    error: /add up to 8 byte\(s\), but 0 byte\(s\).*Inference-Header-Content-Length header gives/,
  },
  {
    title: 'an input with neither data nor binary_data_size',
    make: () =>
      assemble({ inputs: [{ name: 'text', datatype: 'BYTES', shape: [1] }] }, Buffer.alloc(0)),
    error: /input "text" has no data/,
  },
  {
    title: 'binary_data_size not a whole number',
    make: () => assemble(withSize('12'), binaryOf()),
    error: /"binary_data_size" parameter of input "text" must be a whole number/,
  },
  {
    title: 'binary_data_size negative',
    make: () => assemble(withSize(-4), binaryOf()),
    error: /must be a whole number of bytes/,
  },
  {
    title: 'both data and binary_data_size',
    make: () => {
      const { body, headers } = good();
      const header = json(body, headers);
      header.inputs[0].data = TEXTS;
      return assemble(header, binaryOf());
    },
    error: /both "data" and a "binary_data_size"/,
  },
  {
    title: 'a BYTES length prefix past the data',
    make: () => {
      const binary = binaryOf();
      binary.writeUInt32LE(binary.length, 0);
      return assemble(withSize(binary.length), binary);
    },
    error: /cut short at byte 0/,
  },
  {
    title: 'a BYTES length prefix cut short',
    make: () => {
      const binary = Buffer.concat([binaryOf(), Buffer.from([1, 0])]);
      return assemble(withSize(binary.length), binary);
    },
    error: /cut short at byte \d+/,
  },
  {
    title: 'a BYTES element that is not UTF-8',
    make: () => {
      const binary = Buffer.from([2, 0, 0, 0, 0xc3, 0x28]);
      return assemble({ inputs: [{ ...withSize(6).inputs[0], shape: [1] }] }, binary);
    },
    error: /not valid UTF-8/,
  },
  {
    title: 'more BYTES elements than the shape holds',
    make: () => {
      const binary = binaryOf();
      return assemble({ inputs: [{ ...withSize(binary.length).inputs[0], shape: [2] }] }, binary);
    },
    error: /shape \[2\] but 4 element/,
  },
  {
    title: 'a binary input of another datatype',
    make: () =>
      assemble(
        {
          inputs: [
            { name: 'text', datatype: 'FP32', shape: [2], parameters: { binary_data_size: 8 } },
          ],
        },
        encodeTensorData('FP32', [0.5, 1.5]),
      ),
    error: /must have datatype BYTES, got "FP32"/,
  },
  {
    title: 'binary_data_output not a boolean',
    make: () => {
      const { body, headers } = good();
      const header = json(body, headers);
      header.parameters = { binary_data_output: 'yes' };
      return assemble(header, binaryOf());
    },
    error: /"binary_data_output" parameter must be true or false/,
  },
  {
    title: 'binary_data on an output not a boolean',
    make: () => {
      const { body, headers } = good();
      const header = json(body, headers);
      header.outputs = [{ name: 'label', parameters: { binary_data: 1 } }];
      return assemble(header, binaryOf());
    },
    error: /"binary_data" parameter of output "label" must be true or false/,
  },
];
