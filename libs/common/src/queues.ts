/**
 * Names of queues and the payloads that travel on them: defined once, here.
 *
 * Every name carries a Redis Cluster hash tag (`{...}`), and BullMQ keys a queue's data as
 * `<prefix>:<name>:<suffix>`, so each queue's keys share one slot. The queues of one model
 * version share its tag: its jobs, chunks and batch parents live on one master (BullMQ's flows
 * and scripts touch the parent and the children together), while different versions spread
 * over the cluster's masters. On a single Redis the tags are just characters of the names.
 */

/** The hash tag of a model version's queues. `@` cannot occur in names or versions. */
function versionTag(model: string, version: string): string {
  return `{${model}@${version}}`;
}

/** Queue of one model version's prediction jobs. */
export function predictionQueueName(model: string, version: string): string {
  return `predict-${versionTag(model, version)}`;
}

/** Queue of one model version's bulk-scoring chunks: consumed beside, and after, online work. */
export function bulkQueueName(model: string, version: string): string {
  return `bulk-${versionTag(model, version)}`;
}

/**
 * Queue of one model version's batch parents: BullMQ releases a parent there once all its
 * chunks are done, and a worker of the version hands it on to {@link BATCH_QUEUE}.
 */
export function batchParentQueueName(model: string, version: string): string {
  return `batch-${versionTag(model, version)}`;
}

/** Queue of finished batches, to be summed up (one job per batch, whatever its version). */
export const BATCH_QUEUE = '{batches}';

/** What a chunk of a batch remembers about each of its rows. */
export interface BulkRow {
  /** 1-based line of the row in the input file. */
  line: number;
  id: string;
  /** Gold label index, when the batch maps a label column. */
  gold?: number;
  /** Columns copied to the results unchanged. */
  passthrough?: Record<string, string>;
}

/**
 * Queue of shadow comparisons: a worker of a shadow version puts one here for each copy it
 * answered (or failed for good), and the API compares it with the primary's answer.
 */
export const SHADOW_QUEUE = '{shadow-comparisons}';

/** What a copy of a prediction job for a shadow version carries besides the job. */
export interface ShadowCopy {
  /** The prediction whose job was copied: its answer is the primary's. */
  predictionId: string;
  /** The shadow setting it was copied under (see ShadowSetting.since). */
  since: string;
}

/** What a shadow comparison job carries: the copy, and the shadow's answer or failure. */
export interface ShadowComparisonData extends ShadowCopy {
  model: string;
  shadowVersion: string;
  /** The shadow's answers, one per text (null for a part that failed). */
  output?: unknown[];
  /** Why the copy failed, when it did. */
  error?: string;
}

/**
 * Options of a shadow comparison job. The primary's job usually finished before the copy (it
 * went on an online queue, the copy on a bulk one); when it has not, the comparison is tried
 * again, with backoff, for about 30 s. The id makes a repeated announcement a no-op.
 */
export function shadowComparisonOptions(predictionId: string) {
  return {
    jobId: `shadow-${predictionId}`,
    attempts: 8,
    backoff: { type: 'exponential', delay: 250 },
    removeOnComplete: true,
    removeOnFail: true,
  };
}

/**
 * BullMQ options that keep a finished job, completed or failed, for `ageS` seconds. BullMQ's
 * `{ age }` is not the job's own lifetime: as each job finishes, BullMQ removes every finished job
 * of its queue older than the age *that* job carries. So the jobs of one queue that are kept at
 * all carry one age, from the setting that governs them (see each queue's options below, and
 * "How long finished jobs stay" in the architecture notes); a kind kept for no time at all
 * (`true`) removes only itself and trims nothing.
 */
export function keptFor(ageS: number) {
  return { removeOnComplete: { age: ageS }, removeOnFail: { age: ageS } };
}

/** Where the management port serves Bull Board. */
export const QUEUE_BOARD_PATH = '/admin/queues';

/** Queue of webhook deliveries. */
export const WEBHOOK_QUEUE = '{webhooks}';

/** Events a webhook may be sent for. */
export type WebhookEvent = 'start' | 'completed';

/** The webhook an async prediction asked for. */
export interface PredictionWebhook {
  url: string;
  events: WebhookEvent[];
  /**
   * How long its deliveries are kept once finished (seconds): the API's RESULT_TTL_S, carried
   * so that the worker that announces them keeps them as the API does (absent on jobs of APIs
   * older than it: {@link DEFAULT_KEEP_S}).
   */
  keepS?: number;
}

/** RESULT_TTL_S by default: how long a job that carries no keeping of its own is kept. */
export const DEFAULT_KEEP_S = 86_400;

/** What the API puts on a model version's queue. */
export interface PredictionJobData {
  model: string;
  version: string;
  texts: string[];
  probabilities?: boolean;
  /** Carried from the HTTP request into the worker's log lines. */
  requestId?: string;
  webhook?: PredictionWebhook;
  /** Set on a chunk of a bulk batch: which batch, and the rows behind `texts`. */
  bulk?: { batchId: string; rows: BulkRow[] };
  /**
   * When the caller stops caring (epoch ms): a job no worker started by then fails with
   * {@link DEADLINE_EXCEEDED}, without being retried and without taking a slot in a batch.
   * A coalesced job's is the latest of its parts' (none when a part has none).
   */
  deadline?: number;
  /**
   * Set on a job that answers several sync requests at once: how many of `texts` each brought,
   * in order. Each part is answered, or fails, on its own.
   */
  parts?: JobPart[];
  /**
   * Set on a job an API process waits on: that process's reply address, where the worker
   * publishes the outcome once the job has finished (see `ReplyInbox`).
   */
  replyTo?: string;
  /** Set on a copy for the model's shadow version: its worker announces it for comparison. */
  shadow?: ShadowCopy;
}

/** One request's share of a coalesced job. */
export interface JobPart {
  count: number;
  requestId?: string;
  /** Its request's own deadline (epoch ms): past it, the part fails alone as deadline_exceeded. */
  deadline?: number;
  /**
   * The sha256 (hex) of the secret that ends its request's id (`<job id>.<secret>`): only that
   * id opens the part, and nothing kept in the job gives the id away.
   */
  idDigest?: string;
}

/** Failure reason of a job that was not started by its deadline. */
export const DEADLINE_EXCEEDED = 'deadline_exceeded';

/**
 * Failure reason of a job left on the queue of a version that was unregistered and that no
 * live worker drains: no worker will ever take it (see the API's RetiredVersions).
 */
export const VERSION_UNREGISTERED = 'version_unregistered';

/** What the worker returns for a prediction job. */
export interface PredictionJobResult {
  output: unknown[];
  /** Time spent in the forward passes of the batch(es) that held this job, in ms. */
  inferenceMs: number;
  /** Texts in the largest forward pass that held this job. */
  batchSize: number;
  /** Worker that ran the job. */
  worker: string;
  /**
   * Of a job with parts where some failed: each part's failure reason, or null where it was
   * answered (a failed part's outputs are null).
   */
  partErrors?: (string | null)[];
  /** What produced the answers (absent on jobs of workers older than provenance). */
  provenance?: Provenance;
  /** Indices of the texts the result cache answered, when any did. */
  cached?: number[];
}

/**
 * What produced a job's answers: the model, its package, the hardware and the forward-pass
 * group. Shown as it is in async prediction views and batch result rows.
 */
export interface Provenance {
  model: string;
  version: string;
  /** Content hash of the package (see `packageSha256`); null when the registry has none. */
  package_sha256: string | null;
  /** Execution provider that ran the forward passes: `cpu` or `cuda`. */
  provider: string;
  /** Precision of the graph, from the manifest: `fp32` or `fp16`. */
  precision: string;
  /** Worker that ran the job. */
  worker: string;
  /** Id of the forward-pass group that held the job; null when the cache answered every text. */
  batch_id: string | null;
  /** Texts in the largest forward pass that held the job; 0 when the cache answered them all. */
  batch_size: number;
  /** From the job's creation until a worker took it, in ms. */
  queue_wait_ms: number;
  /** Time of the forward passes that held the job, in ms. */
  inference_ms: number;
  /** How many of the job's texts the result cache answered. */
  cached_texts: number;
}

/** What a webhook delivery job carries: the prediction, or the batch, it announces. */
export interface WebhookJobData {
  predictionId?: string;
  batchId?: string;
  url: string;
  event: WebhookEvent;
}

/**
 * Options of a webhook delivery job. The id makes a repeated announcement (say, by a job
 * delivered twice) a no-op; failed deliveries stay in the queue's failed set: the dead letters.
 * Every delivery, of a prediction or of a batch, delivered or dead, is kept `keepS` (the API's
 * RESULT_TTL_S: as long as what it announces is readable), so the queue holds one age.
 */
export function webhookJobOptions(
  predictionId: string,
  event: WebhookEvent,
  attempts: number,
  backoffMs: number,
  keepS: number,
) {
  return {
    jobId: `${predictionId}-${event}`,
    attempts,
    backoff: { type: 'exponential', delay: backoffMs },
    ...keptFor(keepS),
  };
}

/** What a batch parent, and a finished batch, carry. */
export interface BatchJobData {
  batchId: string;
  /**
   * How long the batch's jobs are kept once finished (seconds): the API's RESULT_TTL_S when it
   * made the batch (absent on batches of APIs older than it: {@link DEFAULT_KEEP_S}).
   */
  keepS?: number;
}

/**
 * Options of a finished-batch job on {@link BATCH_QUEUE}: the id makes a parent handed on twice
 * one job. Once summed up it is gone (the batch's record holds the sums); one that failed every
 * attempt stays `keepS`, as long as its batch, for the operator to see.
 */
export function finishedBatchOptions(data: BatchJobData) {
  return {
    jobId: data.batchId,
    attempts: 3,
    backoff: { type: 'exponential', delay: 1000 },
    removeOnComplete: true,
    removeOnFail: { age: data.keepS ?? DEFAULT_KEEP_S },
  };
}
