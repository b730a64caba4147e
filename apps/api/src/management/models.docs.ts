import { applyDecorators } from '@nestjs/common';
import { ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import type { Backlog, QueueCounts } from '@app/common';
import { BATCHING_BOUNDS, manifestSchema } from '@app/handler/package';
import type { ServingFailure, VersionRecord, WorkerRecord } from '@app/registry';
import {
  JsonAnswer,
  MANAGEMENT_SECURITY,
  Operation,
  Problems,
  REDIS_UNAVAILABLE,
  describes,
  ref,
  requestSchema,
  responseSchema,
} from '../core/api-docs';
import {
  DEFAULT_PAGE,
  MAX_CACHE_TTL_S,
  MAX_PAGE,
  MAX_SYNC_WAIT_S,
  MAX_TRAFFIC_WEIGHT,
  MAX_WORKERS_PER_VERSION as MAX_WORKERS,
} from './model-limits';
import type { ShadowReport } from '../shadow/shadow.service';
import type { ModelsService, VersionDescription } from './models.service';

export const statusSchema = responseSchema(
  'StatusMessage',
  z.object({ status: z.string().describe('what was done, in words') }),
);

const modelListSchema = responseSchema(
  'ModelList',
  describes<Awaited<ReturnType<ModelsService['list']>>>()(
    z.object({
      models: z.array(
        z.object({
          modelName: z.string(),
          defaultVersion: z.string().optional(),
          versions: z
            .array(z.string())
            .describe(
              'registered versions; a package of the store not registered (or unregistered) is not one',
            ),
          modelUrl: z.string().optional().describe('package of the default version'),
        }),
      ),
      nextPageToken: z.string().optional().describe('pass as next_page_token for the next page'),
      failedPackages: z
        .array(z.object({ location: z.string(), reason: z.string(), at: z.string() }))
        .optional()
        .describe('packages of the model store the API could not register, each with why'),
    }),
  ),
);

const queueCounts = describes<QueueCounts>()(
  z.object({
    waiting: z.number().int(),
    prioritized: z.number().int(),
    delayed: z.number().int(),
    active: z.number().int(),
  }),
);

const failureSchema = describes<ServingFailure>()(
  z.object({ source: z.string(), reason: z.string(), at: z.string() }),
);

const workerSchema = responseSchema(
  'Worker',
  describes<WorkerRecord>()(
    z.object({
      id: z.string(),
      host: z.string(),
      pid: z.number().int(),
      device: z.string().describe('the execution provider that really runs the graph'),
      runtime: z
        .object({
          provider: z.string(),
          onnxruntime: z.string(),
          nodes: z.record(z.string(), z.number()).optional(),
        })
        .optional(),
      versions: z.array(z.string()).describe('`name@version` of each version it serves'),
      metricsUrl: z.string().optional().describe('where its Prometheus metrics are served'),
      jobsInFlight: z.number().int(),
      lastBatch: z
        .object({ size: z.number().int(), tokens: z.number().int(), inferenceMs: z.number() })
        .optional(),
      throughput: z
        .record(z.string(), z.number())
        .optional()
        .describe('texts per second, per `name@version`'),
      startedAt: z.string(),
      seenAt: z.number().optional(),
    }),
  ),
);

const answerLabel = z.object({
  label: z.number().int().optional(),
  label_name: z.string().optional(),
  probability: z.number().optional(),
});

export const shadowSchema = responseSchema(
  'Shadow',
  describes<ShadowReport>()(
    z.object({
      version: z.string().describe('the shadow version'),
      fraction: z.number().describe("share of the model's online jobs copied to it"),
      since: z.string().describe('when it became the shadow: every figure counts from then'),
      copies: z
        .object({ queued: z.number().int(), dropped: z.number().int(), failed: z.number().int() })
        .describe('copies put on its bulk queue, dropped while its backlog was full, failed'),
      compared: z
        .object({ jobs: z.number().int(), texts: z.number().int(), agreed: z.number().int() })
        .describe('copies compared with their primary: jobs, texts, texts with the same label'),
      agreement: z.number().nullable().describe('agreed texts over compared texts'),
      meanProbabilityDifference: z
        .number()
        .nullable()
        .describe(
          "mean of |p - q| over compared texts: p the primary's probability of its label, " +
            'q the probability the shadow gave that class',
        ),
      notCompared: z
        .object({
          primaryFailed: z.number().int(),
          primaryGone: z.number().int(),
          primaryUnfinished: z.number().int(),
          shadowFailed: z.number().int(),
        })
        .describe('copies answered but not compared, by why'),
      disagreements: z
        .array(
          z.object({
            predictionId: z.string(),
            text: z.string().describe('the text, cut to 500 characters'),
            primary: answerLabel,
            shadow: answerLabel,
            at: z.string(),
          }),
        )
        .describe('the latest texts the two answered differently, newest first (at most 20)'),
    }),
  ),
);

const versionSchema = responseSchema(
  'ModelVersion',
  describes<VersionDescription>()(
    z.object({
      modelName: z.string(),
      modelVersion: z.string(),
      modelUrl: z.string(),
      isDefault: z.boolean(),
      trafficWeight: z.number().nullable(),
      minWorkers: z.number().int(),
      maxWorkers: z.number().int(),
      batchSize: z.number().int(),
      maxBatchTokens: z.number().int(),
      maxBatchDelay: z.number(),
      registeredAt: z.string(),
      packageSha256: z
        .string()
        .nullable()
        .describe('content hash of the package (null for a version registered before hashes)'),
      cacheTtlS: z
        .number()
        .int()
        .describe("seconds answers stay in the version's result cache; 0: off"),
      status: z.enum(['READY', 'NO_WORKERS', 'FAILED']),
      reason: z.string().optional(),
      failures: z.array(failureSchema).optional(),
      queue: describes<Backlog>()(
        z.object({
          online: queueCounts,
          bulk: queueCounts,
          queued: z.number().int(),
          active: z.number().int(),
        }),
      ),
      workers: z.array(workerSchema),
      shadow: shadowSchema.optional().describe("the model's shadow version, while it has one"),
    }),
  ),
);

const registeredSchema = responseSchema(
  'RegisteredVersion',
  describes<{ status: string } & VersionRecord>()(
    z.object({
      status: z.string(),
      name: z.string(),
      version: z.string(),
      location: z.string(),
      manifest: manifestSchema,
      labels: z.array(z.string()),
      registeredAt: z.string(),
      minWorkers: z.number().int(),
      maxWorkers: z.number().int(),
      packageSha256: z
        .string()
        .optional()
        .describe('sha256 of the manifest and the files it names (see docs/provenance.md)'),
      cacheTtlS: z.number().int().optional().describe('result cache time to live, s; 0: off'),
    }),
  ),
);

const trafficSchema = responseSchema(
  'TrafficSplit',
  z.object({ modelName: z.string(), traffic: z.record(z.string(), z.number()) }),
);

const trafficBodySchema = requestSchema(
  'TrafficWeights',
  z
    .record(z.string(), z.number().nonnegative().max(MAX_TRAFFIC_WEIGHT))
    .describe(
      `weight per version, from 0 to ${MAX_TRAFFIC_WEIGHT}, at least one above 0, e.g. {"1": 90, "2": 10}; {} clears the split`,
    ),
);

export const unauthorized = { 401: 'the management token is missing or wrong' };

/** Management problems: a 401 asks a browser to log in with Basic auth. */
export const ManagementProblems = (statuses: Record<number, string>) =>
  Problems(statuses, {
    401: {
      'WWW-Authenticate': {
        description: 'Basic realm="modelfleet management"',
        schema: { type: 'string' },
      },
    },
  });
const UNKNOWN = 'unknown model or version';

export const nameParam = ApiParam({
  name: 'name',
  description: 'model name',
  schema: { type: 'string' },
});
const versionParam = ApiParam({
  name: 'version',
  description: 'model version',
  schema: { type: 'string' },
});

/** An optional integer query parameter from 0 to `max`. */
const intQuery = (name: string, max: number, description: string, required = false) =>
  ApiQuery({ name, required, description, schema: { type: 'integer', minimum: 0, maximum: max } });

export const ModelsDocs = () => ApiTags('models');

export const ListModelsDocs = () =>
  applyDecorators(
    Operation({
      id: 'listModels',
      summary: 'List registered models, a page at a time',
      security: MANAGEMENT_SECURITY,
    }),
    intQuery('limit', MAX_PAGE, `models per page (default ${DEFAULT_PAGE})`),
    ApiQuery({
      name: 'next_page_token',
      required: false,
      description: 'the nextPageToken of the previous page',
      schema: { type: 'string', pattern: '^[0-9]+$' },
    }),
    JsonAnswer(200, 'a page of models', modelListSchema),
    ManagementProblems({
      400: 'limit or next_page_token is not a number in range',
      ...unauthorized,
      503: REDIS_UNAVAILABLE,
    }),
  );

export const RegisterModelDocs = () =>
  applyDecorators(
    Operation({
      id: 'registerModel',
      summary: 'Register a package of the model store as a model version',
      security: MANAGEMENT_SECURITY,
    }),
    ApiQuery({
      name: 'url',
      required: true,
      description: 'a package (folder or archive) inside MODEL_STORE; nothing else is accepted',
      schema: { type: 'string' },
    }),
    intQuery('initial_workers', MAX_WORKERS, 'workers the fleet should keep on it (min_worker)'),
    intQuery(
      'batch_size',
      BATCHING_BOUNDS.max_batch_size,
      "overrides the package's max_batch_size",
    ),
    intQuery(
      'max_batch_delay',
      BATCHING_BOUNDS.max_batch_delay_ms,
      "overrides the package's max_batch_delay_ms (ms)",
    ),
    intQuery(
      'cache_ttl_s',
      MAX_CACHE_TTL_S,
      'seconds the result cache keeps each answer; 0 (default) turns the cache off',
    ),
    JsonAnswer(201, 'registered', registeredSchema),
    ManagementProblems({
      400: 'url is missing or not a valid package of the store; a number is out of range',
      ...unauthorized,
      409: 'this version of the model is registered already',
      503: REDIS_UNAVAILABLE,
    }),
  );

/** Describes every version of a model, or one. */
export const DescribeModelDocs = (variant: 'default' | 'all' | 'version') =>
  applyDecorators(
    Operation({
      id: { default: 'describeModel', all: 'describeModelAll', version: 'describeModelVersion' }[
        variant
      ],
      summary: {
        default: 'Describe every version of a model: workers, queue, status and why',
        all: "Describe every version of a model (TorchServe's /all)",
        version: 'Describe one version of a model',
      }[variant],
      security: MANAGEMENT_SECURITY,
    }),
    nameParam,
    ...(variant === 'version' ? [versionParam] : []),
    JsonAnswer(200, 'the version(s)', { type: 'array', items: ref(versionSchema) }),
    ManagementProblems({ ...unauthorized, 404: UNKNOWN, 503: REDIS_UNAVAILABLE }),
  );

/** Sets the worker range of the default version, or of one. */
export const ScaleModelDocs = (versioned: boolean) =>
  applyDecorators(
    Operation({
      id: versioned ? 'scaleModelVersion' : 'scaleModel',
      summary: `Set the worker range of ${versioned ? 'a version' : 'the default version'}`,
      description:
        'As in TorchServe: 202 while the workers change, or with `synchronous=true` 200 once ' +
        'the live workers are within the range (202 if they are not within `timeout`).',
      security: MANAGEMENT_SECURITY,
    }),
    nameParam,
    ...(versioned ? [versionParam] : []),
    intQuery('min_worker', MAX_WORKERS, 'fewest workers (default: unchanged)'),
    intQuery('max_worker', MAX_WORKERS, 'most workers (default: unchanged, at least min_worker)'),
    ApiQuery({
      name: 'synchronous',
      required: false,
      description: '`true` waits for the workers',
      schema: { type: 'string', enum: ['true', 'false'] },
    }),
    intQuery(
      'timeout',
      MAX_SYNC_WAIT_S,
      'longest wait of a synchronous call, in seconds (default 60)',
    ),
    JsonAnswer(200, 'the live workers are within the range', statusSchema),
    JsonAnswer(202, 'the range is set; workers change asynchronously', statusSchema),
    ManagementProblems({
      400: 'a number is out of range, or min_worker > max_worker',
      ...unauthorized,
      404: UNKNOWN,
      503: REDIS_UNAVAILABLE,
    }),
  );

export const SetTrafficDocs = () =>
  applyDecorators(
    Operation({
      id: 'setTraffic',
      summary: 'Split traffic between versions (A/B or canary)',
      security: MANAGEMENT_SECURITY,
      body: { 'application/json': { schema: ref(trafficBodySchema) } },
    }),
    nameParam,
    JsonAnswer(200, 'the split now in force', trafficSchema),
    ManagementProblems({
      400: `the body is not a map of versions to weights from 0 to ${MAX_TRAFFIC_WEIGHT} (at least one above 0), or not JSON`,
      ...unauthorized,
      404: UNKNOWN,
      413: 'a body over MAX_BODY_BYTES',
      415: 'an unsupported charset or Content-Encoding',
      503: REDIS_UNAVAILABLE,
    }),
  );

export const SetDefaultDocs = () =>
  applyDecorators(
    Operation({
      id: 'setDefaultVersion',
      summary: 'Make a version the default of its model',
      security: MANAGEMENT_SECURITY,
    }),
    nameParam,
    versionParam,
    JsonAnswer(200, 'done', statusSchema),
    ManagementProblems({ ...unauthorized, 404: UNKNOWN, 503: REDIS_UNAVAILABLE }),
  );

export const UnregisterDocs = () =>
  applyDecorators(
    Operation({
      id: 'unregisterModelVersion',
      summary: 'Unregister a version; its workers drain its queue first',
      security: MANAGEMENT_SECURITY,
    }),
    nameParam,
    versionParam,
    JsonAnswer(200, 'unregistered', statusSchema),
    ManagementProblems({
      ...unauthorized,
      404: UNKNOWN,
      409: 'it is the default version and the model has others: set another default first',
      503: REDIS_UNAVAILABLE,
    }),
  );
