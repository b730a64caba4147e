import type { PredictionJobResult } from '@app/common';
import { predictionProvenance, resultShare, type PredictionProvenance } from '../core/provenance';
import type { QueueEstimate } from '../core/queue-estimates';
import type { WebhookStatus } from '../webhooks/webhook-delivery.store';
import type { PredictionJob, PredictionPart, StoredState } from './prediction.store';

/** Status of a prediction as callers see it. */
export type PredictionStatus = 'queued' | 'processing' | 'succeeded' | 'failed' | 'canceled';

/** The prediction resource of the async API (also the webhook payload). */
export interface PredictionView {
  id: string;
  model: string;
  version: string;
  status: PredictionStatus;
  input: { data: string[] };
  output: unknown[] | null;
  error: string | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  metrics: {
    queue_time_ms: number | null;
    inference_time_ms: number | null;
    batch_size: number | null;
  };
  /** What produced the output, once it succeeded. */
  provenance: PredictionProvenance | null;
  webhook?: WebhookStatus;
  /** Where a queued prediction stands in its version's queue (GET only). */
  queue?: QueueEstimate;
  urls: { get: string; cancel: string };
}

const STATUS: Partial<Record<StoredState, PredictionStatus>> = {
  canceled: 'canceled',
  completed: 'succeeded',
  failed: 'failed',
  active: 'processing',
  waiting: 'queued',
  delayed: 'queued',
  prioritized: 'queued',
  'waiting-children': 'queued',
};

/** True while a prediction can still change (and be canceled). */
export const unfinished = (status: PredictionStatus) =>
  status === 'queued' || status === 'processing';

/**
 * The resource of a prediction job in a given state; with `part`, of one request's share of a
 * coalesced job (its own texts, answers and failure only).
 */
export function describePrediction(
  job: PredictionJob,
  state: StoredState,
  canceledAt?: string,
  webhook?: WebhookStatus,
  part?: PredictionPart,
): PredictionView {
  const share = shareOf(job, part);
  const id = share.id;
  const status = STATUS[state] ?? 'failed';
  const result = status === 'succeeded' ? job.returnvalue : undefined;
  const iso = (ms?: number) => (ms ? new Date(ms).toISOString() : null);
  return {
    id,
    model: job.data.model,
    version: job.data.version,
    status,
    input: { data: share.slice(job.data.texts) },
    output: result ? share.slice(result.output) : null,
    error: status === 'failed' ? share.error || job.failedReason || 'unknown failure' : null,
    created_at: new Date(job.timestamp).toISOString(),
    started_at: iso(job.processedOn),
    completed_at: canceledAt ?? (unfinished(status) ? null : iso(job.finishedOn)),
    metrics: {
      queue_time_ms: job.processedOn ? job.processedOn - job.timestamp : null,
      inference_time_ms: result ? round(result.inferenceMs) : null,
      batch_size: result?.batchSize ?? null,
    },
    provenance: result
      ? predictionProvenance(share.result(result), share.slice(job.data.texts).length)
      : null,
    ...(webhook ? { webhook } : {}),
    urls: { get: `/v1/predictions/${id}`, cancel: `/v1/predictions/${id}/cancel` },
  };
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

/** Where a part's texts lie in its job, and what failed it. */
function shareOf(job: PredictionJob, part?: PredictionPart) {
  if (part === undefined) {
    return {
      id: job.id!,
      slice: <T>(all: T[]) => all,
      result: (result: PredictionJobResult) => result,
      error: undefined,
    };
  }
  const parts = job.data.parts ?? [];
  const start = parts.slice(0, part.index).reduce((sum, p) => sum + p.count, 0);
  const end = start + parts[part.index].count;
  return {
    id: part.id,
    slice: <T>(all: T[]) => all.slice(start, end),
    result: (result: PredictionJobResult) => resultShare(result, start, end),
    error: job.returnvalue?.partErrors?.[part.index] ?? undefined,
  };
}
