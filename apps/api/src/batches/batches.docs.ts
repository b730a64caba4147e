import { applyDecorators } from '@nestjs/common';
import { ApiParam, ApiQuery, ApiTags, type SchemaObject } from '@nestjs/swagger';
import { z } from 'zod';
import {
  Answer,
  INFERENCE_SECURITY,
  JsonAnswer,
  Operation,
  Problems,
  REDIS_UNAVAILABLE,
  UNAUTHORIZED,
  describes,
  locationHeader,
  ref,
  requestSchema,
  responseSchema,
} from '../core/api-docs';
import { textProvenanceSchema } from '../core/provenance.docs';
import { queueEstimateSchema, requestTimeoutHeader } from '../predictions/predictions.docs';
import { RESERVED_COLUMNS, type ResultFields } from './batch-results';
import type { BatchView } from './batch-view';
import { createBatchSchema } from './batch.dto';
import type { RowError } from './dataset-reader';

const batchViewSchema = responseSchema(
  'Batch',
  describes<BatchView>()(
    z.object({
      id: z.string(),
      model: z.string(),
      version: z.string(),
      status: z.enum(['running', 'succeeded', 'canceled']),
      counts: z
        .object({
          total: z.number().int(),
          succeeded: z.number().int(),
          failed: z.number().int(),
          invalid: z.number().int(),
          pending: z.number().int(),
        })
        .describe('exact once finished, estimated from finished chunks while running'),
      rows_per_second: z.number().nullable(),
      eta_seconds: z.number().nullable(),
      created_at: z.string(),
      completed_at: z.string().nullable(),
      queue: queueEstimateSchema
        .optional()
        .describe(
          "while running: where its rows not yet started stand in the version's bulk queue",
        ),
      summary: z
        .object({
          succeeded: z.number().int(),
          failed: z.number().int(),
          cached_rows: z
            .number()
            .int()
            .optional()
            .describe('scored rows the result cache answered without inference'),
          accuracy: z.number().optional(),
          labels: z.array(z.string()).optional(),
          confusion: z
            .array(z.array(z.number().int()))
            .optional()
            .describe('rows: gold label, columns: predicted'),
        })
        .optional()
        .describe('once finished; accuracy and confusion matrix with a gold label column'),
      urls: z.object({
        get: z.string(),
        cancel: z.string(),
        results: z.string(),
        errors: z.string(),
      }),
    }),
  ),
);

/** One line of the results file (JSONL); the CSV form has the same columns. */
const resultRowSchema = responseSchema(
  'BatchResultRow',
  describes<ResultFields>()(
    z.object({
      line: z.number().int(),
      id: z.string(),
      label: z.number().int().optional(),
      label_name: z.string().optional(),
      probability: z.number().optional(),
      probabilities: z.array(z.number()).optional(),
      output: z.unknown().optional().describe("a package's own handler's answer, as it came"),
      gold: z.number().int().optional(),
      gold_name: z.string().optional(),
      provenance: textProvenanceSchema
        .optional()
        .describe('what produced the answer; left out with ?provenance=false'),
    }),
  )
    .loose()
    .describe(
      `one scored row; passthrough columns are added by name, none of them named ${RESERVED_COLUMNS}`,
    ),
);

const rowErrorSchema = responseSchema(
  'BatchRowError',
  describes<RowError>()(
    z.object({ line: z.number().int(), id: z.string().optional(), error: z.string() }),
  ),
);

requestSchema('CreateBatch', createBatchSchema);

/** What each option means, for the query string of an upload (every option but `path`). */
const OPTIONS: Record<Exclude<keyof typeof createBatchSchema.shape, 'path'>, string> = {
  model: 'the model that scores it (required)',
  version: 'the version (default: the default version)',
  format: 'csv or jsonl (default: from the content type)',
  text: 'column(s) joined to make the text, e.g. `title,description` (required)',
  id: 'column of the row id (default: the line number)',
  passthrough: `columns copied to the results (none named ${RESERVED_COLUMNS})`,
  label: 'gold label column (a label name, or an index counted from `label_base`)',
  label_base: 'what the first label index of the gold column is',
  columns: 'column names of a CSV file without a header row',
  chunk_size: "rows per chunk job (default BATCH_CHUNK_SIZE, at most the version's max_batch_size)",
  probabilities: '`true` adds every class probability to the results',
  webhook: 'URL that gets a signed `batch.completed` event',
  deadline_ms:
    'milliseconds from now by which every chunk must have started: chunks started later fail as `deadline_exceeded` and the batch finishes with their rows failed (with a Request-Timeout header too, the earlier wins)',
};

/** The query parameters of an upload, one per option, each with the schema of that option. */
const optionQueries = () =>
  Object.entries(OPTIONS).map(([name, description]) => {
    const field = createBatchSchema.shape[name as keyof typeof OPTIONS];
    const { $schema: _, ...schema } = z.toJSONSchema(field, {
      io: 'input',
      unrepresentable: 'any',
    });
    return ApiQuery({
      name,
      required: false,
      description: `${description}; for an upload only`,
      // JSON Schema 2020-12, which OpenAPI 3.1 schemas are.
      schema: schema as SchemaObject,
    });
  });

const idParam = ApiParam({ name: 'id', description: 'batch id', schema: { type: 'string' } });
const FIND_PROBLEMS = { ...UNAUTHORIZED, 404: 'unknown or expired batch', 503: REDIS_UNAVAILABLE };
/**
 * A JSON Lines answer. OpenAPI 3.1 has no schema for the items of a sequential media type (3.2
 * adds `itemSchema`), so it is described as the array of its lines, as is the custom.
 */
const jsonLines = (item: z.ZodType, description: string) => ({
  schema: {
    type: 'array',
    items: ref(item),
    description: `JSON Lines: one item per line, no enclosing array. ${description}`.trim(),
  },
});

export const BatchesDocs = () => ApiTags('batches');

export const CreateBatchDocs = () =>
  applyDecorators(
    Operation({
      id: 'createBatch',
      summary: 'Score a dataset',
      description:
        'Send the file as the body (`text/csv`, or `application/x-ndjson` for JSONL) with the ' +
        'options in the query string, or a JSON body naming a `path` inside DATA_DIR.',
      security: INFERENCE_SECURITY,
      body: {
        'application/json': { schema: ref(createBatchSchema) },
        'text/csv': { schema: { type: 'string', description: 'a CSV file' } },
        'application/x-ndjson': { schema: { type: 'string', description: 'a JSONL file' } },
        'application/jsonl': { schema: { type: 'string', description: 'a JSONL file' } },
      },
    }),
    ...optionQueries(),
    requestTimeoutHeader,
    JsonAnswer(202, 'accepted: its chunks are queued', batchViewSchema, locationHeader),
    Problems({
      400: 'an unknown, missing or ill-typed option (each named in `errors`), a passthrough column named as a field of the results; a bad Request-Timeout; no file and no `path`; a `path` outside the data folder; a body that cannot be decoded; a record with too many commas',
      ...UNAUTHORIZED,
      404: 'unknown model or version; `path` is not a file of the data folder',
      413: 'an upload over BATCH_MAX_BYTES, a record over BATCH_MAX_RECORD_BYTES, or a dataset of more than BATCH_MAX_ROWS rows (`Too many rows`, the limit in `max_rows`)',
      415: 'an unsupported Content-Encoding or charset',
      422: 'no row can be scored (the first are listed in `row_errors`, as on GET /v1/batches/{id}/errors); the webhook URL is refused',
      503: REDIS_UNAVAILABLE,
    }),
  );

export const GetBatchDocs = () =>
  applyDecorators(
    Operation({
      id: 'getBatch',
      summary: 'Get a batch: status, counts, rows/s, ETA, summary',
      security: INFERENCE_SECURITY,
    }),
    idParam,
    JsonAnswer(200, 'the batch', batchViewSchema),
    Problems(FIND_PROBLEMS),
  );

export const CancelBatchDocs = () =>
  applyDecorators(
    Operation({
      id: 'cancelBatch',
      summary: 'Stop a running batch; what was scored stays downloadable',
      security: INFERENCE_SECURITY,
    }),
    idParam,
    JsonAnswer(200, 'the canceled batch', batchViewSchema),
    Problems({ ...FIND_PROBLEMS, 409: 'the batch has finished (`batch_status` says how)' }),
  );

export const BatchResultsDocs = () =>
  applyDecorators(
    Operation({
      id: 'getBatchResults',
      summary: 'Download the scored rows, in input order',
      security: INFERENCE_SECURITY,
    }),
    idParam,
    ApiQuery({
      name: 'format',
      required: false,
      description: 'jsonl (default) or csv',
      schema: { type: 'string', enum: ['jsonl', 'csv'] },
    }),
    ApiQuery({
      name: 'provenance',
      required: false,
      description:
        'JSONL rows carry a `provenance` object unless `false`; CSV rows carry `provenance_*` columns only with `true`',
      schema: { type: 'string', enum: ['true', 'false'] },
    }),
    Answer(200, 'the scored rows so far', {
      'application/x-ndjson': jsonLines(resultRowSchema, 'The default.'),
      'text/csv': {
        schema: {
          type: 'string',
          description:
            'with ?format=csv: the same columns, no probabilities; the provenance as `provenance_*` columns with ?provenance=true',
        },
      },
    }),
    Problems(FIND_PROBLEMS),
  );

export const BatchErrorsDocs = () =>
  applyDecorators(
    Operation({
      id: 'getBatchErrors',
      summary: 'Download the rows that could not be read or scored, with their line numbers',
      security: INFERENCE_SECURITY,
    }),
    idParam,
    Answer(200, 'the failed rows, in line order', {
      'application/x-ndjson': jsonLines(rowErrorSchema, ''),
    }),
    Problems(FIND_PROBLEMS),
  );
