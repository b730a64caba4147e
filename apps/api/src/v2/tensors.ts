import type { Prediction } from '@app/handler/package';
import type { VersionRecord } from '@app/registry';
import { Problem, badRequest } from '../core/problem';

/** A tensor as model metadata describes it; `-1` is a dimension of any size. */
export interface TensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
}

/** The Open Inference Protocol's model metadata. */
export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

/**
 * An input tensor of an inference request as a transport read it, not yet checked: its data
 * flat in row-major order, or (REST) nested as its shape.
 */
export interface InputTensor {
  name: string;
  datatype: string;
  shape: number[];
  data: unknown[];
}

/** An output tensor of an inference response, its data flattened in row-major order. */
export interface OutputTensor {
  name: OutputName;
  datatype: 'INT64' | 'BYTES' | 'FP32';
  shape: number[];
  data: number[] | string[];
}

/** The one input of a text classifier: a batch of UTF-8 texts. */
export const INPUT_NAME = 'text';

/** The outputs of a text classifier, in the order a response lists them. */
export const OUTPUT_NAMES = ['label', 'label_name', 'probability', 'probabilities'] as const;

/** The name of an output tensor. */
export type OutputName = (typeof OUTPUT_NAMES)[number];

/** Outputs answered when a request names none (`probabilities` only when asked for). */
const DEFAULT_OUTPUTS: OutputName[] = ['label', 'label_name', 'probability'];

/** The protocol's platform name of the models the built-in handler serves. */
const PLATFORM = 'onnx_onnxv1';

/** Metadata of a version: one BYTES input, the classifier's four outputs. */
export function modelMetadata(record: VersionRecord, versions: string[]): ModelMetadata {
  return {
    name: record.name,
    versions,
    platform: PLATFORM,
    inputs: [{ name: INPUT_NAME, datatype: 'BYTES', shape: [-1] }],
    outputs: [
      { name: 'label', datatype: 'INT64', shape: [-1] },
      { name: 'label_name', datatype: 'BYTES', shape: [-1] },
      { name: 'probability', datatype: 'FP32', shape: [-1] },
      { name: 'probabilities', datatype: 'FP32', shape: [-1, record.labels.length || -1] },
    ],
  };
}

/**
 * The outputs to answer: those the request names (each one known), else the default three, with
 * `probabilities` added when the request's `probabilities` parameter is true.
 */
export function selectOutputs(
  requested: string[] | undefined,
  probabilities: unknown,
): OutputName[] {
  if (!requested?.length) {
    const wanted = probabilities === true || probabilities === 'true';
    return wanted ? [...DEFAULT_OUTPUTS, 'probabilities'] : DEFAULT_OUTPUTS;
  }
  for (const name of requested) {
    if (!(OUTPUT_NAMES as readonly string[]).includes(name)) {
      throw badRequest(
        `unknown output "${name}": this model answers ${OUTPUT_NAMES.map((n) => `"${n}"`).join(', ')}`,
      );
    }
  }
  return OUTPUT_NAMES.filter((name) => requested.includes(name));
}

/**
 * The texts of a request's inputs, checked the same way whichever transport read them: exactly
 * one input, named `text`, of datatype BYTES; a shape of whole dimensions, 0 or more, that holds
 * as many elements as its data, flat or nested as the shape (see {@link elementsOf}); each
 * element a string.
 */
export function textsOfInputs(inputs: InputTensor[]): string[] {
  if (inputs.length !== 1) {
    throw badRequest(
      `expected one input tensor "${INPUT_NAME}" (BYTES, shape [n]), got ${inputs.length}`,
    );
  }
  const [input] = inputs;
  if (input.name !== INPUT_NAME) {
    throw badRequest(`unknown input "${input.name}": the model's input is "${INPUT_NAME}"`);
  }
  if (input.datatype !== 'BYTES') {
    throw badRequest(`input "${INPUT_NAME}" must have datatype BYTES, got "${input.datatype}"`);
  }
  const shape = `[${input.shape.join(', ')}]`;
  if (
    input.shape.length === 0 ||
    !input.shape.every((size) => Number.isSafeInteger(size) && size >= 0)
  ) {
    throw badRequest(
      `input "${INPUT_NAME}" has shape ${shape}: a shape is one or more whole dimensions, each 0 or more`,
    );
  }
  const data = elementsOf(input.data, input.shape);
  const elements = input.shape.reduce((product, size) => product * size, 1);
  if (elements !== data.length) {
    throw badRequest(`input "${INPUT_NAME}" has shape ${shape} but ${data.length} element(s)`);
  }
  const bad = data.findIndex((item) => typeof item !== 'string');
  if (bad >= 0) {
    throw badRequest(`element ${bad} of input "${INPUT_NAME}" must be a string`);
  }
  return data as string[];
}

/**
 * Tensor data in row-major order. The protocol accepts it flat, or nested as the shape: then
 * each level is an array of exactly its dimension's size, and the innermost level holds the
 * elements. Any other nesting, deeper than the shape's rank included, is a 400. Walked one
 * level at a time without recursion, so no nesting depth can overflow the stack.
 */
export function elementsOf(data: unknown[], shape: number[]): unknown[] {
  if (!data.some(Array.isArray)) return data;
  const nested = `the data of input "${INPUT_NAME}" must be flat, or nested as its shape [${shape.join(', ')}]`;
  let level: unknown[] = [data];
  for (const [depth, size] of shape.entries()) {
    const next: unknown[] = [];
    for (const array of level) {
      if (!Array.isArray(array) || array.length !== size) {
        const found = Array.isArray(array) ? `${array.length} item(s)` : 'an element';
        throw badRequest(`${nested}: at depth ${depth + 1} it holds ${found}, not ${size} item(s)`);
      }
      for (const item of array) next.push(item);
    }
    level = next;
  }
  if (level.some(Array.isArray)) {
    throw badRequest(`${nested}: it is nested deeper than the shape's ${shape.length} level(s)`);
  }
  return level;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A text from bytes that must be UTF-8. */
export function decodeText(bytes: Uint8Array, index: number): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw badRequest(`element ${index} of input "${INPUT_NAME}" is not valid UTF-8`);
  }
}

/**
 * The 413 of an input with more elements than a request may hold texts: given as soon as the
 * elements are seen, before they are decoded (a 1 MiB body holds 262,144 empty ones).
 */
export function tooManyElements(maxTexts: number, count?: number): Problem {
  const holds = count === undefined ? `more than ${maxTexts}` : String(count);
  return new Problem(
    413,
    'Too many texts',
    `input "${INPUT_NAME}" holds ${holds} elements; the limit is ${maxTexts} texts`,
  );
}

/**
 * The elements of a BYTES tensor in raw form (`raw_input_contents`): each one a 4-byte
 * little-endian length followed by that many bytes, as the protocol's clients serialize it.
 * Past `maxTexts` elements, counting the `before` of the request's earlier inputs, it stops with
 * a 413, the rest unread.
 */
export function decodeRawBytes(raw: Uint8Array, maxTexts = Infinity, before = 0): string[] {
  const buffer = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const texts: string[] = [];
  for (let offset = 0; offset < buffer.length;) {
    if (before + texts.length >= maxTexts) throw tooManyElements(maxTexts);
    const length = offset + 4 <= buffer.length ? buffer.readUInt32LE(offset) : -1;
    if (length < 0 || offset + 4 + length > buffer.length) {
      throw badRequest(
        `raw contents of input "${INPUT_NAME}" are cut short at byte ${offset}: each element is a 4-byte little-endian length and its bytes`,
      );
    }
    texts.push(decodeText(buffer.subarray(offset + 4, offset + 4 + length), texts.length));
    offset += 4 + length;
  }
  return texts;
}

/** Texts serialized as a raw BYTES tensor (the inverse of {@link decodeRawBytes}). */
export function encodeRawBytes(texts: string[]): Buffer {
  return Buffer.concat(
    texts.flatMap((text) => {
      const bytes = Buffer.from(text, 'utf8');
      const length = Buffer.alloc(4);
      length.writeUInt32LE(bytes.length);
      return [length, bytes];
    }),
  );
}

/** The chosen output tensors of the classifier's answers, one row per text. */
export function outputTensors(results: Prediction[], names: OutputName[]): OutputTensor[] {
  const n = results.length;
  return names.map((name): OutputTensor => {
    switch (name) {
      case 'label':
        return { name, datatype: 'INT64', shape: [n], data: results.map((r) => r.label) };
      case 'label_name':
        return { name, datatype: 'BYTES', shape: [n], data: results.map((r) => r.label_name) };
      case 'probability':
        return { name, datatype: 'FP32', shape: [n], data: results.map((r) => r.probability) };
      case 'probabilities': {
        const rows = results.map((r) => r.probabilities ?? []);
        return { name, datatype: 'FP32', shape: [n, rows[0]?.length ?? 0], data: rows.flat() };
      }
    }
  });
}

/**
 * An output tensor in raw form (`raw_output_contents`): INT64 as 8-byte and FP32 as 4-byte
 * little-endian values, BYTES as length-prefixed elements.
 */
export function encodeRawTensor(tensor: OutputTensor): Buffer {
  if (tensor.datatype === 'BYTES') return encodeRawBytes(tensor.data as string[]);
  const values = tensor.data as number[];
  const width = tensor.datatype === 'INT64' ? 8 : 4;
  const raw = Buffer.alloc(values.length * width);
  values.forEach((value, i) => {
    if (width === 8) raw.writeBigInt64LE(BigInt(value), i * 8);
    else raw.writeFloatLE(value, i * 4);
  });
  return raw;
}
