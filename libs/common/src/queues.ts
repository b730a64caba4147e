/** Names of queues and the payloads that travel on them: defined once, here. */

/** Queue of one model version's prediction jobs. `@` cannot occur in names or versions. */
export function predictionQueueName(model: string, version: string): string {
  return `predict-${model}@${version}`;
}

/** Queue of one model version's bulk-scoring chunks: consumed beside, and after, online work. */
export function bulkQueueName(model: string, version: string): string {
  return `bulk-${model}@${version}`;
}

/** Queue of batch parent jobs: each completes once all its chunks have. */
export const BATCH_QUEUE = 'batches';

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
 * Queue of shadow comparisons: each job is the parent of one copy of a prediction job on the
 * shadow version's bulk queue, and waits for it before comparing the two answers.
 */
export const SHADOW_QUEUE = 'shadow-comparisons';

/** What a shadow comparison job carries (the shadow's answer is its child's). */
export interface ShadowComparisonData {
  model: string;
  /** The prediction whose job was copied: its answer is the primary's. */
  predictionId: string;
  shadowVersion: string;
  /** The shadow setting it was copied under (see ShadowSetting.since). */
  since: string;
}

/** Queue of webhook deliveries. */
export const WEBHOOK_QUEUE = 'webhooks';

/** Events a webhook may be sent for. */
export type WebhookEvent = 'start' | 'completed';

/** What the API puts on a model version's queue. */
export interface PredictionJobData {
  model: string;
  version: string;
  texts: string[];
  probabilities?: boolean;
  /** Carried from the HTTP request into the worker's log lines. */
  requestId?: string;
  webhook?: { url: string; events: WebhookEvent[] };
  /** Set on a chunk of a bulk batch: which batch, and the rows behind `texts`. */
  bulk?: { batchId: string; rows: BulkRow[] };
}

/** What the worker returns for a prediction job. */
export interface PredictionJobResult {
  output: unknown[];
  /** Time spent in the forward passes of the batch(es) that held this job, in ms. */
  inferenceMs: number;
  /** Texts in the largest forward pass that held this job. */
  batchSize: number;
  /** Worker that ran the job. */
  worker: string;
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
 */
export function webhookJobOptions(
  predictionId: string,
  event: WebhookEvent,
  attempts: number,
  backoffMs: number,
) {
  return {
    jobId: `${predictionId}-${event}`,
    attempts,
    backoff: { type: 'exponential', delay: backoffMs },
    removeOnComplete: { age: 86_400 },
    removeOnFail: false,
  };
}
