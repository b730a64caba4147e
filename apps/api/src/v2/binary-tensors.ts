import { Problem, badRequest } from '../core/problem';
import { parseJson } from '../core/request-bodies';
import type { InferAnswer } from './open-inference.service';
import { decodeRawBytes, encodeRawTensor, type InputTensor, type OutputName } from './tensors';

/*
 * Triton's binary tensor data extension of the Open Inference Protocol's REST inference: a body
 * is a JSON header of `Inference-Header-Content-Length` bytes followed by the binary data of each
 * input whose `binary_data_size` parameter says so, in the order of the inputs. Binary data is
 * little-endian and row-major; a BYTES element is a 4-byte little-endian length and its bytes.
 * Outputs asked for in binary (`binary_data` on an output, else the request's
 * `binary_data_output`) are answered the same way.
 */

/** The header giving the length of the JSON header of a body holding binary tensor data. */
export const HEADER_LENGTH = 'inference-header-content-length';

/** The name the server metadata lists the extension under. */
export const BINARY_TENSOR_DATA = 'binary_tensor_data';

/** A REST inference body split into its JSON header (parsed) and the binary data after it. */
export interface InferBody {
  json: unknown;
  binary: Buffer;
}

/**
 * A body read whole: without `Inference-Header-Content-Length` all of it is JSON; with it, the
 * first that many bytes are, and the rest is binary tensor data.
 */
export function splitInferBody(body: Buffer | undefined, headerLength?: string): InferBody {
  const bytes = body ?? Buffer.alloc(0);
  if (headerLength === undefined) {
    try {
      return { json: parseJson(bytes), binary: Buffer.alloc(0) };
    } catch (error) {
      if (!(error instanceof Problem)) throw error;
      throw new Problem(
        error.getStatus(),
        error.title,
        `${error.detail} (a body with binary tensor data needs an Inference-Header-Content-Length header giving its JSON header's length in bytes)`,
      );
    }
  }
  const length = /^\s*\d+\s*$/.test(headerLength) ? Number(headerLength) : NaN;
  if (!Number.isSafeInteger(length)) {
    throw badRequest(
      `Inference-Header-Content-Length must be the JSON header's length in bytes, got "${headerLength}"`,
    );
  }
  if (length > bytes.length) {
    throw badRequest(
      `Inference-Header-Content-Length is ${length} but the body holds only ${bytes.length} byte(s)`,
    );
  }
  return { json: parseJson(bytes.subarray(0, length)), binary: bytes.subarray(length) };
}

/** An input of a REST inference request: its data in JSON, or its size in the binary data. */
export interface RequestInput {
  name: string;
  datatype: string;
  shape: number[];
  parameters?: Record<string, unknown>;
  data?: unknown[];
}

/**
 * The inputs with their data, the binary ones' cut from `binary` in order: each input gives its
 * data in JSON or a `binary_data_size`, never both, and the sizes add up to the binary data's
 * length. A BYTES input's binary data is decoded into its elements here; any other datatype's is
 * left empty, for `textsOfInputs` refuses every datatype but BYTES before it reads the data.
 * Decoding stops with a 413 past `maxTexts` elements, all inputs together.
 */
export function inputsWithData(
  inputs: RequestInput[],
  binary: Buffer,
  maxTexts = Infinity,
): InputTensor[] {
  const sizes = inputs.map(binaryDataSize);
  const total = sizes.reduce((sum: number, size) => sum + (size ?? 0), 0);
  if (total !== binary.length) {
    const where = binary.length
      ? ''
      : ' (binary data goes after the JSON header, whose length the Inference-Header-Content-Length header gives)';
    throw badRequest(
      `the inputs' binary_data_size parameters add up to ${total} byte(s), but ${binary.length} byte(s) of binary data follow the JSON header${where}`,
    );
  }
  let offset = 0;
  // The budget is the request's, not each input's: split over many inputs (refused only once
  // decoded), a body's elements would all be decoded, maxTexts at a time.
  let decoded = 0;
  return inputs.map(({ name, datatype, shape, data }, i): InputTensor => {
    const size = sizes[i];
    if (size === undefined) return { name, datatype, shape, data: data! };
    const raw = binary.subarray(offset, offset + size);
    offset += size;
    const elements = datatype === 'BYTES' ? decodeRawBytes(raw, maxTexts, decoded) : [];
    decoded += elements.length;
    return { name, datatype, shape, data: elements };
  });
}

/** An input's `binary_data_size`, or undefined for one whose data is in JSON; else a 400. */
function binaryDataSize({ name, parameters, data }: RequestInput): number | undefined {
  const size = parameters?.binary_data_size;
  if (size === undefined) {
    if (data !== undefined) return undefined;
    throw badRequest(
      `input "${name}" has no data: give it "data", or a "binary_data_size" parameter and its bytes after the JSON header`,
    );
  }
  if (data !== undefined) {
    throw badRequest(
      `input "${name}" has both "data" and a "binary_data_size" parameter: give its data in one of them`,
    );
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw badRequest(
      `the "binary_data_size" parameter of input "${name}" must be a whole number of bytes, 0 or more, got ${JSON.stringify(size)}`,
    );
  }
  return size;
}

/** A boolean parameter of the extension, or undefined when not given; a 400 otherwise. */
function flag(value: unknown, where: string): boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  throw badRequest(`${where} must be true or false, got ${JSON.stringify(value)}`);
}

/**
 * The outputs to answer in binary: those whose `binary_data` parameter is true, and, when the
 * request's `binary_data_output` is true, every other one whose `binary_data` is not false.
 */
export function binaryOutputsOf(
  answered: OutputName[],
  binaryDataOutput: unknown,
  requested: { name: string; parameters?: Record<string, unknown> }[] = [],
): OutputName[] {
  const all = flag(binaryDataOutput, 'the "binary_data_output" parameter') ?? false;
  const each = new Map(
    requested.map((output) => [
      output.name,
      flag(
        output.parameters?.binary_data,
        `the "binary_data" parameter of output "${output.name}"`,
      ),
    ]),
  );
  return answered.filter((name) => each.get(name) ?? all);
}

/** An answer with binary outputs, as the extension lays it out. */
export interface BinaryAnswer {
  /** The length of the JSON header, for `Inference-Header-Content-Length`. */
  headerLength: number;
  body: Buffer;
}

/**
 * The answer's JSON with each output in `binary` stripped of its data and given a
 * `binary_data_size` parameter, followed by those outputs' binary data in the order listed.
 */
export function binaryAnswer(answer: InferAnswer, binary: OutputName[]): BinaryAnswer {
  const raws: Buffer[] = [];
  const outputs = answer.outputs.map((tensor) => {
    if (!binary.includes(tensor.name)) return tensor;
    const raw = encodeRawTensor(tensor);
    raws.push(raw);
    const { data: _, ...described } = tensor;
    return { ...described, parameters: { binary_data_size: raw.length } };
  });
  const header = Buffer.from(JSON.stringify({ ...answer, outputs }), 'utf8');
  return { headerLength: header.length, body: Buffer.concat([header, ...raws]) };
}
