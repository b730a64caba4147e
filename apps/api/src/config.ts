import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { boolSetting, commonSettings, intSetting, listSetting, parseEnv } from '@app/common';

/**
 * What a management token must be, from MANAGEMENT_TOKEN or from MANAGEMENT_TOKEN_FILE alike:
 * long enough not to be guessed, and without spaces, which no Authorization header can carry.
 */
export const managementTokenSchema = z
  .string()
  .min(16, 'a management token needs at least 16 characters')
  .regex(/^\S+$/, 'a management token cannot contain spaces');

/**
 * API processes per host by default: one per four cores, at least one. On 2 cores one process
 * serves more than two (the workers need the second core: see docs/performance.md).
 */
export function defaultApiProcesses(cores: number): number {
  return Math.max(1, Math.floor(cores / 4));
}

/** Every setting of the API process, read from the environment once at start. */
export const apiSettings = z.object({
  ...commonSettings,
  /**
   * API processes on the same ports (node:cluster shares the listening sockets): more event loops
   * for the same host. The default follows the cores (see {@link defaultApiProcesses}).
   */
  API_PROCESSES: intSetting(defaultApiProcesses(availableParallelism()), 1, 256),
  /** First delay before a crashed API process (of several) is restarted; doubles per crash in a row. */
  RESTART_BACKOFF_MS: intSetting(1000, 10),
  /** Exits in a row of a restarted API process before it started, after which the API stops. */
  MAX_START_FAILURES: intSetting(3, 1),
  /** Interface of the four ports: loopback unless a deployment opens them (`0.0.0.0`). */
  API_HOST: z.string().default('127.0.0.1'),
  API_PORT: intSetting(8080, 0, 65535),
  MANAGEMENT_PORT: intSetting(8081, 0, 65535),
  /** Port of /metrics (Prometheus), /healthz and /readyz. */
  METRICS_PORT: intSetting(8082, 0, 65535),
  /** gRPC port: the Open Inference Protocol (KServe v2), TorchServe's inference API, health. */
  GRPC_PORT: intSetting(8083, 0, 65535),
  /** Bearer token of the management API; when unset, read from (or created in) MANAGEMENT_TOKEN_FILE. */
  MANAGEMENT_TOKEN: managementTokenSchema.optional(),
  MANAGEMENT_TOKEN_FILE: z.string().default('.data/management-token'),
  /** Turning this off leaves the management API open: only for a trusted network. */
  MANAGEMENT_AUTH: boolSetting(true),
  /** Bull Board at /admin/queues on the management port only shows queues unless this is false. */
  QUEUE_BOARD_READ_ONLY: boolSetting(true),
  /** When set, the inference API and gRPC require `Authorization: Bearer <API_KEY>` (or `X-API-Key`). */
  API_KEY: z.string().min(8).optional(),
  /** Package locations in MODEL_STORE to register at start; `*` registers every package found. */
  MODELS: listSetting('*'),
  /** One log line per HTTP request (access log); off saves its cost on busy single-text traffic. */
  ACCESS_LOG: boolSetting(true),
  SYNC_TIMEOUT_MS: intSetting(30_000, 1),
  /**
   * Sync requests for one version arriving in the same event-loop turn share one job of up to
   * this many texts (each answered with its own share); 1 gives every request its own job.
   */
  COALESCE_MAX_TEXTS: intSetting(64, 1),
  /**
   * Longest a version's sync requests are held while this process has a job unanswered for each
   * of its live workers (they go as one job as soon as one is answered); 0: never held.
   */
  COALESCE_WAIT_MS: intSetting(25, 0),
  /** Sync calls to a version with more queued work than this (estimated) are refused with 503. */
  MAX_QUEUE_WAIT_S: intSetting(30, 0),
  /** Async creates to a version with this many queued jobs are refused with 429. */
  MAX_QUEUED_JOBS: intSetting(50_000, 1),
  /** Copies for a shadow version are dropped while it has this many jobs queued (online and bulk). */
  SHADOW_MAX_BACKLOG: intSetting(1000, 1),
  /** A Redis command of request handling not answered within this fails: a 503, not a hang. */
  REDIS_COMMAND_TIMEOUT_MS: intSetting(800, 50),
  /**
   * An accepted job (async create, sync call, batch) is answered only once this many Redis
   * replicas hold it (`WAIT`): a failover then loses no job the API acknowledged. 0: off.
   */
  REDIS_ACK_REPLICAS: intSetting(0, 0, 16),
  /** How long an accepted job may wait for REDIS_ACK_REPLICAS replicas; past it, a 503. */
  REDIS_ACK_TIMEOUT_MS: intSetting(1000, 1, 60_000),
  MAX_TEXTS_PER_REQUEST: intSetting(1000, 1),
  MAX_BODY_BYTES: intSetting(1024 * 1024, 1024),
  MAX_WAIT_S: intSetting(60, 0),
  RESULT_TTL_S: intSetting(86_400, 60),
  /** How long a finished sync job stays pollable (for a caller who got a 504). */
  SYNC_RESULT_TTL_S: intSetting(600, 1),
  JOB_ATTEMPTS: intSetting(3, 1),
  IDEMPOTENCY_TTL_S: intSetting(86_400, 1),
  /** Standard Webhooks secret (base64, optionally `whsec_`-prefixed); webhooks are refused without it. */
  WEBHOOK_SECRET: z.string().min(8).optional(),
  /** Hosts or CIDR ranges a webhook may target although they are loopback, private or link-local. */
  WEBHOOK_ALLOWED_HOSTS: listSetting(''),
  WEBHOOK_TIMEOUT_MS: intSetting(10_000, 1),
  WEBHOOKS_ENABLED: boolSetting(true),
  MAX_ARCHIVE_BYTES: intSetting(1024 ** 3, 1),
  /** Most entries a package archive may hold. */
  MAX_ARCHIVE_ENTRIES: intSetting(1000, 1),
  /** Accept packages whose handler is their own JavaScript: code execution, trusted packages only. */
  ALLOW_PACKAGE_CODE: boolSetting(false),
  /** Folder whose files `POST /v1/batches` may read by path. */
  DATA_DIR: z.string().default('data'),
  /** Rows per chunk job of a batch. */
  BATCH_CHUNK_SIZE: intSetting(128, 1, 4096),
  /** Largest CSV or JSONL upload to `POST /v1/batches`, as sent and once decoded. */
  BATCH_MAX_BYTES: intSetting(256 * 1024 * 1024, 1024),
  /** Longest record (line) of a dataset. */
  BATCH_MAX_RECORD_BYTES: intSetting(1024 * 1024, 1024),
  /** Most columns of a CSV dataset. */
  BATCH_MAX_COLUMNS: intSetting(1000, 1),
  /** Most rows of a dataset (those that cannot be scored count too). */
  BATCH_MAX_ROWS: intSetting(1_000_000, 1),
});

export type ApiConfig = z.infer<typeof apiSettings>;

/** Injection token of the parsed settings. */
export const API_CONFIG = Symbol('API_CONFIG');

/**
 * Whether this API delivers webhooks: they are on (WEBHOOKS_ENABLED) and signed (WEBHOOK_SECRET).
 * Otherwise nothing consumes the webhooks queue, and a create that names a webhook is refused.
 */
export function deliversWebhooks(config: ApiConfig): boolean {
  return config.WEBHOOKS_ENABLED && Boolean(config.WEBHOOK_SECRET);
}

export const loadApiConfig = (env: NodeJS.ProcessEnv = process.env): ApiConfig =>
  parseEnv(apiSettings, env);
