import { randomUUID } from 'node:crypto';
import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger, PredictionJobData, PredictionJobResult } from '@app/common';
import type { HandlerError } from '@app/handler/package';
import { InferenceThreadExited, type GroupOutcome } from '../runtime/inference-client';
import type { InferencePool } from '../runtime/inference-pool';
import type { ThroughputMeter } from '../throughput-meter';
import type { WorkerMetrics } from '../worker-metrics';
import type { ResultCache } from './result-cache';
import { splitOutcome, type GroupOrigin } from './split-outcome';

/**
 * A job in hand (or one part of a coalesced job), waiting in the grouper or running in a group.
 */
export interface PendingJob {
  job: Job<PredictionJobData>;
  texts: readonly string[];
  probabilities?: boolean;
  requestId?: string;
  size: number;
  priority: number;
  /** When it must have started, on `performance.now()`'s clock. */
  deadline?: number;
  resolve: (result: PredictionJobResult) => void;
  reject: (error: Error) => void;
}

/** Figures of the last group a consumer ran, for heartbeats. */
export interface LastBatch {
  size: number;
  tokens: number;
  inferenceMs: number;
}

/** Where a runner's answers come from, for their provenance, and its result cache if any. */
export interface RunnerSources {
  /** The shared part of every job's provenance, read per group (a restarted thread may differ). */
  origin: () => Omit<GroupOrigin, 'batchId' | 'worker'>;
  cache?: ResultCache;
}

/**
 * Runs groups of jobs through the inference thread and settles each job with its share of the
 * answers. A group that fails as a whole is run again job by job, so that a bad job fails alone.
 * When the thread dies, the group's jobs are left unsettled: the consumer hands them back.
 */
export class GroupRunner {
  lastBatch?: LastBatch;

  constructor(
    private readonly client: () => InferencePool,
    private readonly labels: { model: string; version: string },
    private readonly workerId: string,
    private readonly metrics: WorkerMetrics,
    private readonly throughput: ThroughputMeter,
    private readonly log: Logger,
    private readonly sources: RunnerSources,
  ) {}

  /** Runs a group and settles every job of it, unless the thread died. */
  async run(group: PendingJob[]): Promise<void> {
    try {
      await this.answer(group);
    } catch (error) {
      if (error instanceof InferenceThreadExited) return;
      this.log.error({ err: error }, 'answering a group failed');
      for (const pending of group) pending.reject(asJobError(error));
    }
  }

  private async answer(group: PendingJob[]): Promise<void> {
    let outcome: GroupOutcome;
    try {
      const texts = group.flatMap((p) => p.texts);
      const bulk = group[0].priority > 0;
      const { cache } = this.sources;
      if (cache) {
        // The cache keeps whole answers (a later job may ask for the probabilities).
        const cached = await cache.classify(this.client(), texts, bulk);
        this.metrics.cacheTexts.inc({ ...this.labels, outcome: 'hit' }, cached.cached.length);
        this.metrics.cacheTexts.inc(
          { ...this.labels, outcome: 'miss' },
          texts.length - cached.cached.length,
        );
        outcome = cached;
      } else {
        const probabilities = group.some((pending) => pending.probabilities);
        outcome = await this.client().classify(texts, { bulk, probabilities });
      }
    } catch (error) {
      if (error instanceof InferenceThreadExited) throw error;
      if (group.length === 1) return group[0].reject(asJobError(error));
      for (const pending of group) await this.answer([pending]);
      return;
    }
    const { batches } = outcome;
    this.metrics.observeBatches(this.labels, batches);
    // When each forward pass ran: a benchmark lays them on its clock to see the device's gaps.
    if (batches.length && this.log.isLevelEnabled('debug')) {
      const passes = batches.map(({ startedAt, inferenceMs, size }) => ({
        startedAt,
        inferenceMs,
        size,
      }));
      this.log.debug({ texts: outcome.results.length, passes }, 'group scored');
    }
    if (batches.length) {
      this.lastBatch = {
        size: batches.reduce((max, b) => Math.max(max, b.size), 0),
        tokens: batches.reduce((sum, b) => sum + b.paddedTokens, 0),
        inferenceMs: batches.reduce((sum, b) => sum + b.inferenceMs, 0),
      };
    }
    const results = splitOutcome(
      outcome,
      group.map(({ job, texts, probabilities }) => ({
        texts,
        probabilities,
        queueWaitMs: Math.max(0, (job.processedOn ?? Date.now()) - job.timestamp),
      })),
      { ...this.sources.origin(), worker: this.workerId, batchId: randomUUID() },
    );
    this.throughput.answered(outcome.results.length);
    group.forEach(({ job, requestId, resolve }, k) => {
      resolve(results[k]);
      this.log.debug({ jobId: job.id, requestId }, 'job done');
    });
  }
}

/** A handler error that says a retry cannot help fails its job for good; any other may retry. */
function asJobError(error: unknown): Error {
  if (error instanceof Error && (error as Partial<HandlerError>).retryable === false)
    return new UnrecoverableError(error.message);
  return error instanceof Error ? error : new Error(String(error));
}
