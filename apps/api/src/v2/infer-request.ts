import { z } from 'zod';
import { describeIssues } from '@app/handler/package';
import { badRequest } from '../core/problem';
import { deadlineOf } from '../predictions/deadline';
import { binaryOutputsOf, inputsWithData } from './binary-tensors';
import { selectOutputs, textsOfInputs, type OutputName } from './tensors';

/** An inference request as both transports carry it, once read: what to run and answer. */
export interface InferCall {
  /** The caller's request id, echoed in the answer. */
  id?: string;
  texts: string[];
  outputs: OutputName[];
  /** Epoch ms by which a worker must have started it. */
  deadline?: number;
  /** Answer with what produced it (`parameters.provenance`: true; REST only). */
  provenance?: boolean;
  /** Outputs to answer as binary data (REST only: Triton's binary tensor data extension). */
  binaryOutputs?: OutputName[];
}

/** Parameters: names to strings, numbers or booleans. */
const parameters = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));

/** The Open Inference Protocol's `$inference_request` (REST), for parsing and the API document. */
export const inferRequestSchema = z.object({
  id: z.string().optional(),
  parameters: parameters.optional(),
  inputs: z
    .array(
      z.object({
        name: z.string(),
        // Each dimension and the data's nesting are checked by `textsOfInputs`, for gRPC alike.
        shape: z.array(z.number()),
        datatype: z.string(),
        // `binary_data_size`: the data is binary, after the JSON (see `inputsWithData`).
        parameters: parameters.optional(),
        data: z.array(z.unknown()).optional(),
      }),
    )
    .min(1),
  outputs: z.array(z.object({ name: z.string(), parameters: parameters.optional() })).optional(),
});

/**
 * Reads a REST inference request body, its JSON and the binary tensor data after it (see
 * `splitInferBody`); a 400 naming each bad field otherwise. A deadline comes from the
 * `Request-Timeout` header and the request's `deadline_ms` parameter. Binary data holding more
 * than `maxTexts` elements is a 413 before the rest of it is decoded.
 */
export function inferCallOfJson(
  body: unknown,
  requestTimeout?: string,
  binary: Buffer = Buffer.alloc(0),
  maxTexts = Infinity,
): InferCall {
  const parsed = inferRequestSchema.safeParse(body);
  if (!parsed.success) {
    throw badRequest(
      `the body is not an inference request {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [n], "data": [...]}]}: ${describeIssues(parsed.error)}`,
    );
  }
  const request = parsed.data;
  const deadline = deadlineOf(
    requestTimeout,
    request.parameters?.deadline_ms,
    '#/parameters/deadline_ms',
  );
  const outputs = selectOutputs(
    request.outputs?.map((o) => o.name),
    request.parameters?.probabilities,
  );
  const binaryOutputs = binaryOutputsOf(
    outputs,
    request.parameters?.binary_data_output,
    request.outputs,
  );
  return {
    id: request.id,
    texts: textsOfInputs(inputsWithData(request.inputs, binary, maxTexts)),
    outputs,
    ...(deadline === undefined ? {} : { deadline }),
    ...(request.parameters?.provenance === true ? { provenance: true } : {}),
    ...(binaryOutputs.length ? { binaryOutputs } : {}),
  };
}
