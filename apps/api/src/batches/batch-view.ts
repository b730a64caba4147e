import type { QueueEstimate } from '../core/queue-estimates';
import type { BatchRecord, BatchStatus, BatchSummary } from './batch.store';

/** The batch resource. Counts are exact once finished, estimated from chunks while running. */
export interface BatchView {
  id: string;
  model: string;
  version: string;
  status: BatchStatus;
  counts: { total: number; succeeded: number; failed: number; invalid: number; pending: number };
  rows_per_second: number | null;
  eta_seconds: number | null;
  created_at: string;
  completed_at: string | null;
  /** While running: where its rows not yet started stand in the version's bulk queue. */
  queue?: QueueEstimate;
  summary?: BatchSummary;
  urls: { get: string; cancel: string; results: string; errors: string };
}

/**
 * Describes a batch: from its summary once summed up, else from the chunks done so far (each
 * chunk counted as the average number of rows per chunk), with the rate and time left.
 */
export function describeBatch(
  batch: BatchRecord,
  chunksDone?: { scored: number; failed: number },
  queue?: QueueEstimate,
): BatchView {
  const { summary, total, status } = batch;
  const perChunk = total / batch.chunks;
  const succeeded = summary?.succeeded ?? Math.round((chunksDone?.scored ?? 0) * perChunk);
  const failed = summary?.failed ?? Math.round((chunksDone?.failed ?? 0) * perChunk);
  const created = Date.parse(batch.createdAt);
  const completed = batch.completedAt ? Date.parse(batch.completedAt) : undefined;
  const seconds = ((completed ?? Date.now()) - created) / 1000;
  const done = succeeded + failed;
  const rate = seconds > 0 && done > 0 ? done / seconds : null;
  const pending = status === 'running' ? Math.max(0, total - done) : 0;
  const base = `/v1/batches/${batch.id}`;
  return {
    id: batch.id,
    model: batch.model,
    version: batch.version,
    status,
    counts: { total, succeeded, failed, invalid: batch.invalid, pending },
    rows_per_second: rate === null ? null : Math.round(rate * 10) / 10,
    eta_seconds: rate && status === 'running' ? Math.round((pending / rate) * 10) / 10 : null,
    created_at: batch.createdAt,
    completed_at: batch.completedAt ?? null,
    ...(queue && status === 'running' ? { queue } : {}),
    ...(summary ? { summary } : {}),
    urls: {
      get: base,
      cancel: `${base}/cancel`,
      results: `${base}/results`,
      errors: `${base}/errors`,
    },
  };
}
