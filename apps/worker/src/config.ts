import { hostname } from 'node:os';
import { z } from 'zod';
import { boolSetting, commonSettings, intSetting, listSetting, parseEnv } from '@app/common';

/** Every setting of a worker process, read from the environment once at start. */
export const workerSettings = z.object({
  ...commonSettings,
  WORKER_ID: z.string().default(`${hostname()}-${process.pid}`),
  /**
   * What to serve: `*` every registered version; `auto` the versions that have fewer live
   * workers than their min (at most WORKER_MAX_VERSIONS at once); or `name@version`/`name` entries.
   */
  WORKER_MODELS: listSetting('*'),
  WORKER_MAX_VERSIONS: intSetting(1, 1),
  /** An unregistered version is served until its queue has been empty this long. */
  DRAIN_QUIET_MS: intSetting(3000, 0),
  DEVICE: z.enum(['auto', 'cuda', 'cpu']).default('auto'),
  INTRA_OP_THREADS: intSetting(0),
  WORKER_CONCURRENCY: intSetting(256, 1),
  /** Bulk-scoring chunks a worker holds at once (each is many texts). */
  BULK_CONCURRENCY: intSetting(4, 1),
  /**
   * Inference threads per model version, each with its own ORT session (on a GPU, its own
   * CUDA stream), fed by one grouper. 1 by default: on the CPU, threads compete for the same
   * cores (each session already uses them all), so a second one only adds memory.
   */
  INFERENCE_THREADS: intSetting(1, 1, 16),
  /** Bulk groups a version's grouper keeps in flight at once, so the next is tokenized ahead. */
  BULK_GROUPS_IN_FLIGHT: intSetting(2, 1),
  /** Work one bulk forward pass may hold while online jobs are about, in ms of measured pass time. */
  BULK_PASS_MS: intSetting(50, 0),
  BATCH_GAP_MS: intSetting(1, 0),
  GROUP_BATCHES: intSetting(4, 1),
  LOCK_DURATION_MS: intSetting(30_000, 1000),
  STALLED_INTERVAL_MS: intSetting(30_000, 1000),
  MAX_STALLED_COUNT: intSetting(2, 0),
  HEARTBEAT_MS: intSetting(2000, 100),
  WORKER_TTL_MS: intSetting(10_000, 500),
  REGISTRY_POLL_MS: intSetting(2000, 100),
  /** First wait before a version that failed to load is tried again; it doubles per failure. */
  LOAD_RETRY_MS: intSetting(1000, 10),
  LOAD_RETRY_MAX_MS: intSetting(60_000, 10),
  /** Inference-thread deaths within THREAD_DEATH_WINDOW_MS at which the worker exits (code 1). */
  THREAD_DEATH_LIMIT: intSetting(3, 1),
  THREAD_DEATH_WINDOW_MS: intSetting(60_000, 1),
  MAX_ARCHIVE_BYTES: intSetting(1024 ** 3, 1),
  /** Most entries a package archive may hold. */
  MAX_ARCHIVE_ENTRIES: intSetting(1000, 1),
  /** Run handler modules that packages carry: code execution, trusted packages only. */
  ALLOW_PACKAGE_CODE: boolSetting(false),
  WEBHOOKS_ENABLED: boolSetting(true),
  /** Port of /metrics, /healthz and /readyz (0 picks a free one). */
  WORKER_METRICS_PORT: intSetting(9464, 0, 65535),
  /** Interface of that port: loopback unless a deployment opens it (`0.0.0.0`). */
  WORKER_METRICS_HOST: z.string().default('127.0.0.1'),
});

export type WorkerConfig = z.infer<typeof workerSettings>;

export const loadWorkerConfig = (env: NodeJS.ProcessEnv = process.env): WorkerConfig =>
  parseEnv(workerSettings, env);
