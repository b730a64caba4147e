import { applyDecorators } from '@nestjs/common';
import { ApiHeader, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import type { Prediction } from '@app/handler/package';
import {
  INFERENCE_SECURITY,
  JsonAnswer,
  Operation,
  Problems,
  REDIS_UNAVAILABLE,
  UNAUTHORIZED,
  describes,
  locationHeader,
  modelParam,
  ref,
  requestSchema,
  responseSchema,
  versionParam,
} from '../core/api-docs';
import { provenanceSchema, textProvenanceSchema } from '../core/provenance.docs';
import type { QueueEstimate } from '../core/queue-estimates';
import type { WebhookStatus } from '../webhooks/webhook-delivery.store';
import { DEADLINE_RULE } from './deadline';
import type { PredictionView } from './prediction-view';
import { createPredictionSchema } from './prediction.dto';

/** The built-in classifier's answer for one text. */
export const classificationSchema = responseSchema(
  'Classification',
  describes<Prediction>()(
    z
      .object({
        label: z.number().int().describe('index of the most probable class'),
        label_name: z.string(),
        probability: z.number().min(0).max(1),
        probabilities: z
          .array(z.number())
          .optional()
          .describe('every class, with ?probabilities=true'),
      })
      .describe('the answer of the built-in text classifier for one text'),
  ),
);

/** A classification with what produced it (`?provenance=true`). */
const provenancedSchema = responseSchema(
  'ClassificationWithProvenance',
  classificationSchema
    .extend({ provenance: textProvenanceSchema })
    .describe('the answer for one text and, with ?provenance=true, what produced it'),
);

/** What a sync call answers: one result for one text, else one per text in input order. */
const syncAnswerSchema = responseSchema(
  'SyncPredictionAnswer',
  z
    .union([
      classificationSchema,
      z.array(classificationSchema),
      provenancedSchema,
      z.array(provenancedSchema),
    ])
    .describe(
      "one result when one text was sent, else one per text in input order (a package's own " +
        'handler, allowed by ALLOW_PACKAGE_CODE, answers whatever it returns); with ' +
        '?provenance=true each object answer carries a `provenance` member',
    ),
);

const webhookStatusSchema = responseSchema(
  'WebhookStatus',
  describes<WebhookStatus>()(
    z.object({
      url: z.string(),
      events: z.array(z.enum(['start', 'completed'])),
      status: z.enum(['pending', 'delivered', 'retrying', 'dead_letter']),
      attempts: z.number().int().describe('attempts made to deliver the latest event'),
      event: z.enum(['start', 'completed']).optional().describe('the latest event delivered'),
      last_status_code: z.number().int().optional(),
      last_error: z.string().optional(),
      delivered_at: z.string().optional(),
    }),
  ),
);

const timestamp = z.string().describe('ISO 8601');

/** Where queued work stands in its version's queue; shared with batches. */
export const queueEstimateSchema = responseSchema(
  'QueueEstimate',
  describes<QueueEstimate>()(
    z
      .object({
        position: z
          .number()
          .int()
          .min(0)
          .describe("jobs of the version's queue ahead of it that no worker has started"),
        texts_ahead: z.number().int().min(0).describe('texts (rows) those jobs carry'),
        estimated_start_at: timestamp
          .nullable()
          .describe(
            "from the texts per second the version's live workers report; null while none reports",
          ),
        estimated_finish_at: timestamp.nullable(),
      })
      .describe('read from two counters per queue on each poll, never from a scan of the queue'),
  ),
);

/** The `Request-Timeout` header: a deadline for the call, in ms from now. */
export const requestTimeoutHeader = ApiHeader({
  name: 'Request-Timeout',
  required: false,
  description: `deadline in milliseconds from now, ${DEADLINE_RULE}: a job no worker started by then fails as \`deadline_exceeded\` without being run (with a \`deadline_ms\` field too, the earlier wins)`,
  schema: { type: 'integer', minimum: 1 },
});

export const predictionViewSchema = responseSchema(
  'Prediction',
  describes<PredictionView>()(
    z.object({
      id: z.string(),
      model: z.string(),
      version: z.string(),
      status: z.enum(['queued', 'processing', 'succeeded', 'failed', 'canceled']),
      input: z.object({ data: z.array(z.string()) }),
      output: z
        .array(
          z.union([classificationSchema, z.unknown().describe("a package's own handler's answer")]),
        )
        .nullable()
        .describe('one result per text once succeeded'),
      error: z.string().nullable(),
      created_at: timestamp,
      started_at: timestamp.nullable(),
      completed_at: timestamp.nullable(),
      metrics: z.object({
        queue_time_ms: z.number().nullable(),
        inference_time_ms: z.number().nullable(),
        batch_size: z.number().int().nullable(),
      }),
      provenance: provenanceSchema
        .nullable()
        .describe('what produced the output, once succeeded (null before)'),
      webhook: webhookStatusSchema.optional(),
      queue: queueEstimateSchema
        .optional()
        .describe('while queued, in GET answers: its place in the queue and the times to expect'),
      urls: z.object({ get: z.string(), cancel: z.string() }),
    }),
  ),
);

/** The JSON forms of a TorchServe-style body (parsing is `torchServeTexts`). */
const syncJsonBodySchema = requestSchema(
  'SyncPredictionBody',
  z.union([
    z.object({ data: z.union([z.array(z.string().min(1)).min(1), z.string().min(1)]) }),
    z.array(z.string().min(1)).min(1),
    z.string().min(1),
  ]),
);

/** A multipart form: each `data` or `body` field, and each file part, is one document. */
const syncFormSchema = requestSchema(
  'SyncPredictionForm',
  z
    .object({
      data: z.string().optional().describe('a text, or a JSON document of the forms above'),
      body: z.string().optional().describe('as data'),
    })
    .catchall(z.string().describe('a file part: a text or a JSON document')),
);

requestSchema('CreatePrediction', createPredictionSchema);

/** Where a sync call can fail, besides its body. */
const SYNC_PROBLEMS = {
  400: 'the body is not a text, a JSON form, or a form holding one; `data` is empty or holds non-string or empty items; a bad Request-Timeout or `deadline_ms`',
  ...UNAUTHORIZED,
  404: 'unknown model or version',
  413: 'more texts than MAX_TEXTS_PER_REQUEST, or a body over MAX_BODY_BYTES',
  415: 'a charset other than UTF-8',
  500: 'the model failed on this input',
  503: `no live worker serves the version, or it was unregistered before a worker took the call; its queue holds more than MAX_QUEUE_WAIT_S of work (with Retry-After); or ${REDIS_UNAVAILABLE} (with Retry-After)`,
  504: 'no answer within SYNC_TIMEOUT_MS, or by the deadline given (then `reason` is `deadline_exceeded`): the problem carries the prediction `id` and `url` to poll',
};

/** Documents the controller of sync predictions. */
export const SyncPredictionsDocs = () => ApiTags('sync predictions');

/**
 * A sync (TorchServe-style) prediction: POST, or PUT as `curl -T` sends, with or without a
 * version.
 */
export function SyncPredictionDocs(method: 'post' | 'put', versioned: boolean) {
  const name = `${method === 'post' ? 'predict' : 'putPredict'}${versioned ? 'Version' : ''}`;
  return applyDecorators(
    Operation({
      id: name,
      summary: `${method === 'post' ? 'Predict' : 'Predict (PUT, as curl -T sends)'} with ${versioned ? 'a given version' : "the model's traffic split or default version"}`,
      description:
        'TorchServe-compatible. The body is read whatever its type: JSON (`{"data": [...]}`, ' +
        '`{"data": "..."}`, a list of strings, a string) or else one UTF-8 text; a multipart ' +
        'form gives one document per `data` or `body` field and per file part.',
      security: INFERENCE_SECURITY,
      body: {
        'application/json': { schema: ref(syncJsonBodySchema) },
        'text/plain': { schema: { type: 'string', description: 'one text' } },
        'multipart/form-data': { schema: ref(syncFormSchema) },
        '*/*': {
          schema: {
            type: 'string',
            description: 'any other type: JSON if it parses, else one UTF-8 text',
          },
        },
      },
    }),
    modelParam,
    ...(versioned ? [versionParam] : []),
    ApiQuery({
      name: 'probabilities',
      required: false,
      description: '`true` adds every class probability',
      schema: { type: 'string', enum: ['true', 'false'] },
    }),
    ApiQuery({
      name: 'provenance',
      required: false,
      description:
        '`true` adds to each answer what produced it (model, package hash, worker, batch, timings, cache)',
      schema: { type: 'string', enum: ['true', 'false'] },
    }),
    ApiQuery({
      name: 'deadline_ms',
      required: false,
      description: `deadline in milliseconds from now, ${DEADLINE_RULE}, as the Request-Timeout header: the call answers 504 by then at the latest`,
      schema: { type: 'integer', minimum: 1 },
    }),
    requestTimeoutHeader,
    JsonAnswer(200, 'the classification(s)', syncAnswerSchema),
    Problems(SYNC_PROBLEMS),
  );
}

/** Documents the controller of async predictions. */
export const AsyncPredictionsDocs = () => ApiTags('async predictions');

const idParam = ApiParam({
  name: 'id',
  description:
    'prediction id: a job id, or `<job id>.<secret>` for a sync call that shared a job (from a 500 or 504; it opens the texts and answers of that call alone)',
  schema: { type: 'string' },
});

export const CreatePredictionDocs = () =>
  applyDecorators(
    Operation({
      id: 'createPrediction',
      summary: 'Create an async prediction',
      description:
        'Queues the texts for the version and answers 202 at once, or with `Prefer: wait=N` ' +
        'waits up to N seconds (at most MAX_WAIT_S) and answers 200 when it finished in time.',
      security: INFERENCE_SECURITY,
      body: { 'application/json': { schema: ref(createPredictionSchema) } },
    }),
    ApiHeader({
      name: 'Prefer',
      required: false,
      description: '`wait=N`: wait up to N seconds for the result',
      schema: { type: 'string', pattern: 'wait=\\d+' },
    }),
    ApiHeader({
      name: 'Idempotency-Key',
      required: false,
      description:
        'a retried create with the same key and body returns the first prediction; the same key with another body is a 422',
      schema: { type: 'string', maxLength: 255 },
    }),
    requestTimeoutHeader,
    JsonAnswer(200, 'finished within the `Prefer: wait` time', predictionViewSchema, {
      ...locationHeader,
      'Preference-Applied': {
        description: '`wait=N`, the wait applied',
        schema: { type: 'string' },
      },
    }),
    JsonAnswer(202, 'accepted: poll `urls.get`', predictionViewSchema, {
      ...locationHeader,
      'Preference-Applied': {
        description: '`wait=N` when a wait was asked for',
        schema: { type: 'string' },
      },
    }),
    Problems({
      400: 'malformed JSON; a missing, unknown or ill-typed field (each named in `errors`); an Idempotency-Key over 255 characters; a bad Request-Timeout',
      ...UNAUTHORIZED,
      404: 'unknown model or version',
      413: 'more texts than MAX_TEXTS_PER_REQUEST, or a body over MAX_BODY_BYTES',
      415: 'an unsupported charset or Content-Encoding',
      422: 'the webhook URL is refused (or no webhook secret is configured); the Idempotency-Key was used with another body',
      429: 'MAX_QUEUED_JOBS jobs already wait for the version',
      503: REDIS_UNAVAILABLE,
    }),
  );

export const GetPredictionDocs = () =>
  applyDecorators(
    Operation({
      id: 'getPrediction',
      summary: 'Get a prediction',
      security: INFERENCE_SECURITY,
    }),
    idParam,
    JsonAnswer(200, 'the prediction', predictionViewSchema),
    Problems({ ...UNAUTHORIZED, 404: 'unknown or expired id', 503: REDIS_UNAVAILABLE }),
  );

export const CancelPredictionDocs = () =>
  applyDecorators(
    Operation({
      id: 'cancelPrediction',
      summary: 'Cancel a prediction that has not finished',
      description:
        'A queued job leaves its queue; one already in a batch finishes computing but its output is withheld.',
      security: INFERENCE_SECURITY,
    }),
    idParam,
    JsonAnswer(200, 'the canceled prediction', predictionViewSchema),
    Problems({
      ...UNAUTHORIZED,
      404: 'unknown or expired id',
      409: 'the prediction has finished (`prediction_status` says how)',
      503: REDIS_UNAVAILABLE,
    }),
  );
