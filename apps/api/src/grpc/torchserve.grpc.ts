import { join } from 'node:path';
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { badRequest } from '../core/problem';
import type { FleetHealth } from '../health/fleet-health';
import { textsFromBody } from '../predictions/prediction.dto';
import type { SyncPredictionService } from '../predictions/sync-prediction.service';
import { decodeText } from '../v2/tensors';
import type { CallContext, GrpcCalls } from './grpc-calls';

/** Folder of TorchServe's `inference.proto` and the `google/rpc/status.proto` it imports. */
export const TORCHSERVE_PROTO_DIR = join(__dirname, 'torchserve');

/** The service's full name in TorchServe's `inference.proto`. */
export const TORCHSERVE_SERVICE = 'org.pytorch.serve.grpc.inference.InferenceAPIsService';

interface PredictionsRequest {
  model_name: string;
  model_version: string;
  input: Record<string, Uint8Array>;
}

/**
 * The texts of a TorchServe gRPC request's `input` map: its `data` (or `body`, or only) entry,
 * read as the REST route reads a body: JSON `{"data": [...]}` or a JSON string, else one text.
 */
export function textsOfInputMap(input: Record<string, Uint8Array>, maxTexts: number) {
  const keys = Object.keys(input);
  const key = ['data', 'body'].find((k) => k in input) ?? (keys.length === 1 ? keys[0] : undefined);
  if (key === undefined) {
    throw badRequest(
      `"input" must hold a "data" entry (the text, or JSON {"data": [...]}); got ${keys.length ? keys.map((k) => `"${k}"`).join(', ') : 'nothing'}`,
    );
  }
  const text = decodeText(input[key], 0);
  let body: unknown = text;
  try {
    const json: unknown = JSON.parse(text);
    if (typeof json === 'string' || (json && typeof json === 'object' && 'data' in json))
      body = json;
  } catch {
    // Not JSON: the bytes are one text, as TorchServe's handlers read a plain file.
  }
  return textsFromBody(body, { maxTexts });
}

/**
 * TorchServe's gRPC inference API (`InferenceAPIsService`): `Ping` (open, as `/ping` is),
 * `Predictions`, and `StreamPredictions` answering in one message. `StreamPredictions2`
 * (sequence batching) is not implemented: gRPC answers UNIMPLEMENTED.
 */
export function torchServeGrpc(
  predictions: SyncPredictionService,
  health: FleetHealth,
  calls: GrpcCalls,
  maxTexts: number,
): UntypedServiceImplementation {
  const path = (method: string) => `/${TORCHSERVE_SERVICE}/${method}`;
  const predict = async (request: PredictionsRequest, { requestId, deadline }: CallContext) => {
    const { texts, single } = textsOfInputMap(request.input, maxTexts);
    const { output } = await predictions.predict({
      model: request.model_name,
      version: request.model_version || undefined,
      texts,
      requestId,
      deadline,
    });
    return { prediction: Buffer.from(JSON.stringify(single ? output[0] : output)) };
  };
  return {
    Ping: calls.unary(
      path('Ping'),
      async () => {
        const reason = await health.problem();
        const answer = reason ? { status: 'Unhealthy', reason } : { status: 'Healthy' };
        return { health: JSON.stringify(answer) };
      },
      true,
    ),
    Predictions: calls.unary(path('Predictions'), predict),
    StreamPredictions: calls.single(path('StreamPredictions'), predict),
  };
}
