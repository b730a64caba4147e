import { applyDecorators } from '@nestjs/common';
import { ApiHeader, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import {
  Answer,
  INFERENCE_SECURITY,
  JsonAnswer,
  Operation,
  REDIS_UNAVAILABLE,
  UNAUTHORIZED,
  describes,
  modelParam,
  ref,
  requestSchema,
  responseSchema,
  retryAfterHeader,
  versionParam,
} from '../core/api-docs';
import { DEADLINE_RULE } from '../predictions/deadline';
import { BINARY_TENSOR_DATA } from './binary-tensors';
import { inferRequestSchema } from './infer-request';
import type { InferAnswer, ServerMetadata } from './open-inference.service';
import type { ModelMetadata } from './tensors';

/*
 * The Open Inference Protocol (KServe v2) over REST, as these routes speak it: the protocol's own
 * specification is the reference; this documents what modelfleet answers, its error object and
 * Triton's binary tensor data extension included.
 */

export const V2_TAG = 'open inference (KServe v2)';

/** The protocol's error object: what every `/v2` route answers an error with. */
const v2ErrorSchema = responseSchema(
  'OpenInferenceError',
  z
    .object({ error: z.string().describe('what went wrong, and what to fix') })
    .describe("the Open Inference Protocol's error object (not problem+json)"),
);

const serverMetadataSchema = responseSchema(
  'OpenInferenceServerMetadata',
  describes<ServerMetadata>()(
    z.object({
      name: z.string(),
      version: z.string(),
      extensions: z.array(z.string()).describe(`the protocol extensions: "${BINARY_TENSOR_DATA}"`),
    }),
  ),
);

const tensorMetadataSchema = z.object({
  name: z.string(),
  datatype: z.string(),
  shape: z.array(z.number().int()).describe('-1: a dimension of any size'),
});

const modelMetadataSchema = responseSchema(
  'OpenInferenceModelMetadata',
  describes<ModelMetadata>()(
    z.object({
      name: z.string(),
      versions: z.array(z.string()),
      platform: z.string(),
      inputs: z.array(tensorMetadataSchema),
      outputs: z.array(tensorMetadataSchema),
    }),
  ),
);

const requestBodySchema = requestSchema(
  'OpenInferenceRequest',
  inferRequestSchema.describe(
    'one BYTES input "text" (shape [n], or any shape holding n elements; `data` flat or nested ' +
      'as the shape, or a `binary_data_size` parameter and its bytes after the JSON); ' +
      'parameters: `probabilities`, `provenance`, `deadline_ms`, `binary_data_output`; an ' +
      "output's parameter `binary_data`",
  ),
);

const outputSchema = z.object({
  name: z.enum(['label', 'label_name', 'probability', 'probabilities']),
  datatype: z.enum(['INT64', 'BYTES', 'FP32']),
  shape: z.array(z.number().int()),
  data: z.union([z.array(z.number()), z.array(z.string())]).describe('flat, row-major'),
});

const inferAnswerSchema = responseSchema(
  'OpenInferenceResponse',
  describes<InferAnswer>()(
    z.object({
      model_name: z.string(),
      model_version: z.string(),
      id: z.string().optional().describe("the request's id"),
      parameters: z
        .record(z.string(), z.union([z.string(), z.number()]))
        .optional()
        .describe('what produced the answer, with the parameter `provenance: true`'),
      outputs: z.array(outputSchema),
    }),
  ),
);

const headerLength = 'Inference-Header-Content-Length';

/** A body in Triton's binary tensor data extension, request or answer. */
const binaryBody = (what: string) => ({
  schema: {
    type: 'string',
    format: 'binary',
    description: `the JSON ${what} (its length in bytes in ${headerLength}), then the binary data of each tensor whose parameters give \`binary_data_size\`, in order: little-endian, row-major; a BYTES element as a 4-byte little-endian length and its bytes`,
  },
});

/** Error answers in the protocol's error object, one per status. */
function V2Errors(statuses: Record<number, string>) {
  return applyDecorators(
    ...Object.entries(statuses).map(([status, description]) =>
      Answer(
        Number(status),
        description,
        { 'application/json': { schema: ref(v2ErrorSchema) } },
        status === '503' ? retryAfterHeader : {},
      ),
    ),
  );
}

const params = (versioned: boolean) => [modelParam, ...(versioned ? [versionParam] : [])];

/** Documents the controller of the protocol's REST routes. */
export const V2Docs = () => ApiTags(V2_TAG);

export const V2ServerMetadataDocs = () =>
  applyDecorators(
    Operation({
      id: 'v2ServerMetadata',
      summary: "The server's name, version and protocol extensions",
      security: INFERENCE_SECURITY,
    }),
    JsonAnswer(200, 'server metadata', serverMetadataSchema),
    V2Errors(UNAUTHORIZED),
  );

export const V2LiveDocs = () =>
  applyDecorators(
    Operation({ id: 'v2Live', summary: 'Live: the process answers', security: [] }),
    JsonAnswer(
      200,
      'live',
      responseSchema('OpenInferenceLive', z.object({ live: z.literal(true) })),
    ),
  );

export const V2ReadyDocs = () =>
  applyDecorators(
    Operation({
      id: 'v2Ready',
      summary: "Ready: Redis answers and every model's default version has a live worker",
      security: [],
    }),
    JsonAnswer(
      200,
      'ready',
      responseSchema('OpenInferenceReady', z.object({ ready: z.literal(true) })),
    ),
    V2Errors({
      400: `not ready (as the protocol answers false): why, ${REDIS_UNAVAILABLE} included`,
    }),
  );

export function V2ModelMetadataDocs(versioned: boolean) {
  return applyDecorators(
    Operation({
      id: versioned ? 'v2ModelVersionMetadata' : 'v2ModelMetadata',
      summary: `A model's inputs and outputs (${versioned ? 'of the version named' : 'of its default version'})`,
      security: INFERENCE_SECURITY,
    }),
    ...params(versioned),
    JsonAnswer(200, 'model metadata', modelMetadataSchema),
    V2Errors({ ...UNAUTHORIZED, 404: 'unknown model or version', 503: REDIS_UNAVAILABLE }),
  );
}

export function V2ModelReadyDocs(versioned: boolean) {
  return applyDecorators(
    Operation({
      id: versioned ? 'v2ModelVersionReady' : 'v2ModelReady',
      summary: `Whether a live worker serves ${versioned ? 'the version named' : "the model's default version"}`,
      security: INFERENCE_SECURITY,
    }),
    ...params(versioned),
    JsonAnswer(
      200,
      'ready',
      responseSchema(
        'OpenInferenceModelReady',
        z.object({ name: z.string(), ready: z.literal(true) }),
      ),
    ),
    V2Errors({
      400: 'not ready (as the protocol answers false): no live worker serves the version',
      ...UNAUTHORIZED,
      404: 'unknown model or version',
      503: REDIS_UNAVAILABLE,
    }),
  );
}

export function V2InferDocs(versioned: boolean) {
  return applyDecorators(
    Operation({
      id: versioned ? 'v2InferVersion' : 'v2Infer',
      summary: `Classify texts with ${versioned ? 'the version named' : "the model's traffic split or default version"}`,
      description:
        "The body is read whatever its Content-Type: JSON, or (Triton's binary tensor data " +
        `extension) the JSON request followed by binary tensor data, with ${headerLength} ` +
        "giving the JSON's length. Outputs asked for in binary (`binary_data` on an output, or " +
        'the parameter `binary_data_output`) are answered after the JSON, as ' +
        `application/octet-stream with ${headerLength}.`,
      security: INFERENCE_SECURITY,
      body: {
        'application/json': { schema: ref(requestBodySchema) },
        'application/octet-stream': binaryBody('request'),
      },
    }),
    ...params(versioned),
    ApiHeader({
      name: headerLength,
      required: false,
      description: 'the length in bytes of the JSON request that binary tensor data follows',
      schema: { type: 'integer', minimum: 0 },
    }),
    ApiHeader({
      name: 'Request-Timeout',
      required: false,
      description: `deadline in milliseconds from now, ${DEADLINE_RULE} (with a \`deadline_ms\` parameter too, the earlier wins)`,
      schema: { type: 'integer', minimum: 1 },
    }),
    Answer(
      200,
      'the outputs: in JSON, or with binary outputs after the JSON',
      {
        'application/json': { schema: ref(inferAnswerSchema) },
        'application/octet-stream': binaryBody('answer'),
      },
      {
        [headerLength]: {
          description: 'with binary outputs: the length in bytes of the JSON answer',
          schema: { type: 'integer', minimum: 0 },
        },
      },
    ),
    V2Errors({
      400: 'not an inference request the model takes (one BYTES input "text"), malformed JSON, an unknown output, a bad deadline, or binary tensor data that does not add up',
      ...UNAUTHORIZED,
      404: 'unknown model or version',
      413: 'more texts than MAX_TEXTS_PER_REQUEST, or a body over MAX_BODY_BYTES',
      415: 'a charset other than UTF-8, or a Content-Encoding other than gzip, deflate or br',
      500: 'the model failed on this input',
      503: `no live worker serves the version, or it was unregistered before a worker took the call; its queue holds more than MAX_QUEUE_WAIT_S of work; or ${REDIS_UNAVAILABLE}`,
      504: 'no answer within SYNC_TIMEOUT_MS, or by the deadline given',
    }),
  );
}
