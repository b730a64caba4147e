/**
 * A client of Triton's binary tensor data extension of the Open Inference Protocol (REST),
 * written from the extension's published document (triton-inference-server/server,
 * docs/protocol/extension_binary_data.md), not from the server's code, which it does not import:
 * - binary tensor data is little-endian, row-major, without stride or padding; every datatype in
 *   its native size; BOOL one byte (1 true, 0 false); a BYTES element a 4-byte unsigned length
 *   followed by its bytes;
 * - an input sent in binary has the parameter `binary_data_size` (its bytes) and no `data`; an
 *   output is asked for in binary with its parameter `binary_data: true`, or all of them with the
 *   request's `binary_data_output: true` (an output's own `binary_data` overrides it); a binary
 *   output is answered with `binary_data_size` and no `data`;
 * - with any binary data, the body is the JSON object followed by the tensors' data in the order
 *   the JSON lists them, and `Inference-Header-Content-Length` gives the JSON's length in bytes.
 */

/** The datatypes of the protocol, with the byte width of one element (BYTES: variable). */
const WIDTH: Record<string, number> = {
  BOOL: 1,
  INT8: 1,
  UINT8: 1,
  INT16: 2,
  UINT16: 2,
  INT32: 4,
  UINT32: 4,
  INT64: 8,
  UINT64: 8,
  FP32: 4,
  FP64: 8,
};

export type Element = string | number | bigint | boolean;

/** A tensor as a client holds it: its elements flat, row-major. */
export interface ClientTensor {
  name: string;
  datatype: string;
  shape: number[];
  data: Element[];
}

/** An input to send, in JSON or in binary. */
export interface ClientInput extends ClientTensor {
  binary: boolean;
}

/** An output to ask for; `binary` undefined leaves out its `binary_data` parameter. */
export interface ClientOutput {
  name: string;
  binary?: boolean;
}

/** A request: inputs, the outputs named (if any) and the request's parameters. */
export interface ClientRequest {
  id?: string;
  parameters?: Record<string, string | number | boolean>;
  inputs: ClientInput[];
  outputs?: ClientOutput[];
}

/** Elements of `datatype` as binary tensor data. */
export function encodeTensorData(datatype: string, data: Element[]): Buffer {
  if (datatype === 'BYTES') {
    return Buffer.concat(
      data.flatMap((element) => {
        const bytes = Buffer.from(String(element), 'utf8');
        const length = Buffer.alloc(4);
        length.writeUInt32LE(bytes.length);
        return [length, bytes];
      }),
    );
  }
  const width = WIDTH[datatype];
  if (!width) throw new Error(`the client does not encode ${datatype}`);
  const out = Buffer.alloc(width * data.length);
  data.forEach((element, i) => {
    const at = i * width;
    switch (datatype) {
      case 'BOOL':
        return out.writeUInt8(element ? 1 : 0, at);
      case 'INT8':
        return out.writeInt8(Number(element), at);
      case 'UINT8':
        return out.writeUInt8(Number(element), at);
      case 'INT16':
        return out.writeInt16LE(Number(element), at);
      case 'UINT16':
        return out.writeUInt16LE(Number(element), at);
      case 'INT32':
        return out.writeInt32LE(Number(element), at);
      case 'UINT32':
        return out.writeUInt32LE(Number(element), at);
      case 'INT64':
        return out.writeBigInt64LE(BigInt(element), at);
      case 'UINT64':
        return out.writeBigUInt64LE(BigInt(element), at);
      case 'FP32':
        return out.writeFloatLE(Number(element), at);
      case 'FP64':
        return out.writeDoubleLE(Number(element), at);
    }
  });
  return out;
}

/** Binary tensor data of `datatype` as elements; throws if it is not whole elements. */
export function decodeTensorData(datatype: string, raw: Buffer): Element[] {
  if (datatype === 'BYTES') {
    const elements: string[] = [];
    for (let at = 0; at < raw.length;) {
      if (at + 4 > raw.length) throw new Error(`BYTES data cut inside a length at byte ${at}`);
      const length = raw.readUInt32LE(at);
      if (at + 4 + length > raw.length) throw new Error(`BYTES element at byte ${at} cut short`);
      elements.push(raw.subarray(at + 4, at + 4 + length).toString('utf8'));
      at += 4 + length;
    }
    return elements;
  }
  const width = WIDTH[datatype];
  if (!width) throw new Error(`the client does not decode ${datatype}`);
  if (raw.length % width) throw new Error(`${raw.length} bytes are not whole ${datatype} elements`);
  return Array.from({ length: raw.length / width }, (_, i): Element => {
    const at = i * width;
    switch (datatype) {
      case 'BOOL':
        return raw.readUInt8(at) === 1;
      case 'INT8':
        return raw.readInt8(at);
      case 'UINT8':
        return raw.readUInt8(at);
      case 'INT16':
        return raw.readInt16LE(at);
      case 'UINT16':
        return raw.readUInt16LE(at);
      case 'INT32':
        return raw.readInt32LE(at);
      case 'UINT32':
        return raw.readUInt32LE(at);
      case 'INT64':
        return raw.readBigInt64LE(at);
      case 'UINT64':
        return raw.readBigUInt64LE(at);
      case 'FP32':
        return raw.readFloatLE(at);
      default:
        return raw.readDoubleLE(at);
    }
  });
}

/** A request's body and the headers it needs (`Inference-Header-Content-Length` when binary). */
export function encodeRequest(request: ClientRequest): {
  body: Buffer;
  headers: Record<string, string>;
} {
  const binaries: Buffer[] = [];
  const inputs = request.inputs.map(({ name, datatype, shape, data, binary }) => {
    if (!binary) return { name, datatype, shape, data };
    const raw = encodeTensorData(datatype, data);
    binaries.push(raw);
    return { name, datatype, shape, parameters: { binary_data_size: raw.length } };
  });
  const outputs = request.outputs?.map(({ name, binary }) =>
    binary === undefined ? { name } : { name, parameters: { binary_data: binary } },
  );
  const json = Buffer.from(
    JSON.stringify({
      ...(request.id === undefined ? {} : { id: request.id }),
      ...(request.parameters ? { parameters: request.parameters } : {}),
      inputs,
      ...(outputs ? { outputs } : {}),
    }),
    'utf8',
  );
  if (!binaries.length) return { body: json, headers: {} };
  return {
    body: Buffer.concat([json, ...binaries]),
    headers: { 'inference-header-content-length': String(json.length) },
  };
}

/** A response read: its JSON, and every output's tensor, whether it came in JSON or binary. */
export interface ClientResponse {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
  /** The outputs sent in binary, by name. */
  binary: Set<string>;
  outputs: ClientTensor[];
}

/**
 * A successful response's body: without `Inference-Header-Content-Length` all JSON; with it, the
 * JSON then each binary output's `binary_data_size` bytes in the order the outputs are listed.
 * Throws if the binary data does not add up to the body.
 */
export function decodeResponse(body: Buffer, headerLength: string | null): ClientResponse {
  const jsonLength = headerLength === null ? body.length : Number(headerLength);
  if (!Number.isInteger(jsonLength) || jsonLength > body.length) {
    throw new Error(
      `Inference-Header-Content-Length ${headerLength} for a ${body.length}-byte body`,
    );
  }
  const json = JSON.parse(body.subarray(0, jsonLength).toString('utf8'));
  const binary = new Set<string>();
  let at = jsonLength;
  const outputs = (json.outputs as (ClientTensor & { parameters?: Record<string, unknown> })[]).map(
    (output): ClientTensor => {
      const size = output.parameters?.binary_data_size;
      if (size === undefined) return output;
      if (output.data !== undefined) throw new Error(`output ${output.name}: data and binary`);
      if (typeof size !== 'number' || at + size > body.length) {
        throw new Error(
          `output ${output.name}: binary_data_size ${JSON.stringify(size)} past the body's end`,
        );
      }
      binary.add(output.name);
      const raw = body.subarray(at, at + size);
      at += size;
      return { ...output, data: decodeTensorData(output.datatype, raw) };
    },
  );
  if (at !== body.length) {
    throw new Error(`${body.length - at} byte(s) after the binary outputs`);
  }
  return { json, binary, outputs };
}

/** A raw answer: status, headers and body bytes. */
export interface RawAnswer {
  status: number;
  headers: Headers;
  body: Buffer;
}

/**
 * POSTs a body to `/v2/models/{model}[/versions/{version}]/infer` as Triton's Python client
 * does: no Content-Type unless one is given.
 */
export async function postInfer(
  url: string,
  body: Buffer,
  headers: Record<string, string> = {},
): Promise<RawAnswer> {
  const response = await fetch(url, { method: 'POST', headers, body });
  return {
    status: response.status,
    headers: response.headers,
    body: Buffer.from(await response.arrayBuffer()),
  };
}

/** Sends a request and reads its answer; throws with the body when it is not a 200. */
export async function infer(
  url: string,
  request: ClientRequest,
  extraHeaders: Record<string, string> = {},
): Promise<ClientResponse & { headers: Headers }> {
  const { body, headers } = encodeRequest(request);
  const answer = await postInfer(url, body, { ...headers, ...extraHeaders });
  if (answer.status !== 200) {
    throw new Error(`${answer.status}: ${answer.body.toString('utf8')}`);
  }
  const decoded = decodeResponse(
    answer.body,
    answer.headers.get('inference-header-content-length'),
  );
  return { ...decoded, headers: answer.headers };
}
