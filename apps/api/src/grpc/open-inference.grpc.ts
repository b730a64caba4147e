import { join } from 'node:path';
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { badRequest } from '../core/problem';
import type { InferCall } from '../v2/infer-request';
import type { OpenInferenceService } from '../v2/open-inference.service';
import {
  decodeRawBytes,
  decodeText,
  encodeRawTensor,
  selectOutputs,
  textsOfInputs,
  tooManyElements,
  type InputTensor,
  type OutputTensor,
} from '../v2/tensors';
import type { GrpcCalls } from './grpc-calls';

/** The protocol's `.proto` file, as published (copied next to the compiled code by the build). */
export const OPEN_INFERENCE_PROTO = join(__dirname, '..', 'v2', 'grpc_predict_v2.proto');

/** The service's full name in that file. */
export const OPEN_INFERENCE_SERVICE = 'inference.GRPCInferenceService';

/** An `InferParameter`: one of its members is set, named by `parameter_choice`. */
type InferParameter = Record<string, unknown> & { parameter_choice?: string };

/** The fields of `ModelInferRequest` read here (proto-loader objects, field names as in the file). */
interface ModelInferRequest {
  model_name: string;
  model_version: string;
  id: string;
  parameters: Record<string, InferParameter>;
  inputs: {
    name: string;
    datatype: string;
    shape: number[];
    contents: { bytes_contents: Uint8Array[] } | null;
  }[];
  outputs: { name: string }[];
  raw_input_contents: Uint8Array[];
}

interface ModelRequest {
  name: string;
  version: string;
}

/** The value a parameter holds, whichever member it uses. */
const valueOf = (parameter?: InferParameter) =>
  parameter?.parameter_choice ? parameter[parameter.parameter_choice] : undefined;

/**
 * A gRPC inference request read: typed `contents.bytes_contents` or `raw_input_contents`
 * (length-prefixed elements), never both; more than `maxTexts` elements is refused
 * (INVALID_ARGUMENT, as a 413 maps) before the rest is decoded.
 */
export function inferCallOfGrpc(request: ModelInferRequest, maxTexts = Infinity): InferCall {
  const raw = request.raw_input_contents;
  if (raw.length && request.inputs.some((i) => i.contents?.bytes_contents.length)) {
    throw badRequest('give each input its data in "contents" or in "raw_input_contents", not both');
  }
  if (raw.length && raw.length !== request.inputs.length) {
    throw badRequest(
      `"raw_input_contents" holds ${raw.length} tensor(s) for ${request.inputs.length} input(s)`,
    );
  }
  // The budget is the request's, all inputs together (see `inputsWithData`).
  let decoded = 0;
  const inputs = request.inputs.map((input, i): InputTensor => {
    const contents = input.contents?.bytes_contents ?? [];
    if (decoded + contents.length > maxTexts) {
      throw tooManyElements(maxTexts, decoded + contents.length);
    }
    const data = raw.length
      ? decodeRawBytes(raw[i], maxTexts, decoded)
      : contents.map((bytes, j) => decodeText(bytes, j));
    decoded += data.length;
    return { name: input.name, datatype: input.datatype, shape: input.shape.map(Number), data };
  });
  return {
    id: request.id || undefined,
    texts: textsOfInputs(inputs),
    outputs: selectOutputs(
      request.outputs.map((o) => o.name),
      valueOf(request.parameters.probabilities),
    ),
  };
}

/** An output tensor's data in the member of `InferTensorContents` its datatype uses. */
function contentsOf(tensor: OutputTensor) {
  switch (tensor.datatype) {
    case 'INT64':
      return { int64_contents: tensor.data };
    case 'FP32':
      return { fp32_contents: tensor.data };
    case 'BYTES':
      return { bytes_contents: (tensor.data as string[]).map((s) => Buffer.from(s, 'utf8')) };
  }
}

/**
 * `inference.GRPCInferenceService` over {@link OpenInferenceService}. ServerLive and ServerReady
 * are open, as `/v2/health/*` is; a request sent with raw inputs is answered with raw outputs.
 */
export function openInferenceGrpc(
  inference: OpenInferenceService,
  calls: GrpcCalls,
): UntypedServiceImplementation {
  const path = (method: string) => `/${OPEN_INFERENCE_SERVICE}/${method}`;
  return {
    ServerLive: calls.unary(path('ServerLive'), () => Promise.resolve({ live: true }), true),
    ServerReady: calls.unary(
      path('ServerReady'),
      async () => ({ ready: (await inference.serverProblem()) === undefined }),
      true,
    ),
    ServerMetadata: calls.unary(path('ServerMetadata'), () =>
      Promise.resolve(inference.serverMetadata()),
    ),
    ModelReady: calls.unary(path('ModelReady'), async (request: ModelRequest) => ({
      ready: (await inference.modelReadiness(request.name, request.version || undefined)).ready,
    })),
    ModelMetadata: calls.unary(path('ModelMetadata'), (request: ModelRequest) =>
      inference.modelMetadata(request.name, request.version || undefined),
    ),
    ModelInfer: calls.unary(
      path('ModelInfer'),
      async (request: ModelInferRequest, { requestId, deadline }) => {
        const call = { ...inferCallOfGrpc(request, inference.maxTexts), deadline };
        const answer = await inference.infer(
          request.model_name,
          request.model_version || undefined,
          call,
          requestId,
        );
        const raw = request.raw_input_contents.length > 0;
        return {
          model_name: answer.model_name,
          model_version: answer.model_version,
          id: answer.id ?? '',
          outputs: answer.outputs.map((tensor) => ({
            name: tensor.name,
            datatype: tensor.datatype,
            shape: tensor.shape,
            ...(raw ? {} : { contents: contentsOf(tensor) }),
          })),
          raw_output_contents: raw ? answer.outputs.map(encodeRawTensor) : [],
        };
      },
    ),
  };
}
