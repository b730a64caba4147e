import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable } from '@nestjs/common';
import { Job, type Queue } from 'bullmq';
import {
  BATCH_QUEUE,
  JobWaiter,
  QueueProgress,
  VersionQueues,
  batchParentQueueName,
  bulkQueueName,
  keptFor,
  type BatchJobData,
  type BulkRow,
  type PredictionJobData,
  type PredictionJobResult,
} from '@app/common';
import { API_CONFIG, type ApiConfig } from '../config';
import { Acknowledgement } from '../core/acknowledgement';
import { textProvenances, type TextProvenance } from '../core/provenance';
import type { BatchRecord } from './batch.store';
import { removeWaitingChildren } from './chunk-removal';
import type { DatasetRow } from './dataset-reader';

type ChunkJob = Job<PredictionJobData, PredictionJobResult>;

/** A batch whose input is being read: its chunks are staged, its record not written yet. */
export interface StagedBatch {
  id: string;
  model: string;
  version: string;
  /** When reading began (epoch ms). */
  stagedAt: number;
}

/**
 * A chunk's rows with its outputs; `error` is the failure reason of a failed chunk, null for one
 * removed or not finished (canceled), undefined for a scored one.
 */
export interface ChunkOutcome {
  rows: BulkRow[];
  outputs: unknown[];
  /** What produced each output (absent for a chunk of a worker that gave none). */
  provenance?: TextProvenance[];
  error?: string | null;
}

/** Chunks read from Redis at once. */
const READ_SLICE = 200;

/**
 * A batch's jobs: a BullMQ flow whose parent waits on the version's batch-parent queue for its
 * chunks, which go on the version's bulk queue (served after online work); both share the
 * version's hash tag, so a flow never spans Redis Cluster slots. Once every chunk is done,
 * BullMQ releases the parent, a worker of the version hands it on to the finished-batch queue,
 * and the batch is summed up.
 */
@Injectable()
export class BatchFlow {
  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    @InjectQueue(BATCH_QUEUE) consumed: Queue,
    private readonly queues: VersionQueues,
    private readonly waiter: JobWaiter,
    private readonly queueProgress: QueueProgress,
    private readonly acknowledgement: Acknowledgement,
  ) {
    // A lost connection is the connection's to report; unheard, it would end the process.
    consumed.on('error', () => undefined);
  }

  /**
   * Reserves the places of a batch's chunks in the version's bulk queue (one command per batch);
   * returns the jobs and rows the queue was given before them.
   */
  async reserve(
    version: { name: string; version: string },
    chunks: number,
    rows: number,
  ): Promise<{ jobs: number; texts: number }> {
    const after = await this.queueProgress.reserve(
      bulkQueueName(version.name, version.version),
      chunks,
      rows,
    );
    return { jobs: after.jobs - chunks, texts: after.texts - rows };
  }

  /**
   * Puts chunks of a batch being read on the version's bulk queue, numbered from `first`, under
   * the batch's parent (made with the first chunks). They are staged: delayed, so no worker
   * takes them before {@link release}, or {@link discard} removes them with their parent. A
   * staged chunk that reaches neither (the API stopped while reading) becomes due once the batch
   * has expired, past its deadline: a worker then fails it as `deadline_exceeded` without
   * running it, and the batch's parent ends with it. Each chunk carries the batch's deadline.
   * One call is one Redis write, on the request connection: the caller keeps it small (see
   * stageDataset), and a write that times out is still ordered before {@link discard}.
   */
  async stage(
    batch: StagedBatch,
    chunks: DatasetRow[][],
    first: number,
    options: { probabilities?: boolean; deadline?: number },
  ): Promise<void> {
    const ttlS = this.config.RESULT_TTL_S;
    // Chunks and parent are kept as long as the batch; the parent tells the finished batch so.
    const kept = keptFor(ttlS);
    // No chunk starts once its batch has expired: its results would have nowhere to go.
    const deadline = Math.min(options.deadline ?? Infinity, batch.stagedAt + ttlS * 1000);
    const parentQueue = this.queues.queue(batchParentQueueName(batch.model, batch.version));
    const children = chunks.map((rows, k) => ({
      name: 'chunk',
      queueName: bulkQueueName(batch.model, batch.version),
      data: {
        model: batch.model,
        version: batch.version,
        texts: rows.map((r) => r.text),
        probabilities: options.probabilities,
        bulk: { batchId: batch.id, rows: rows.map(({ text: _, ...row }) => row) },
        deadline,
      } satisfies PredictionJobData,
      opts: {
        jobId: chunkId(batch.id, first + k),
        delay: ttlS * 1000,
        attempts: this.config.JOB_ATTEMPTS,
        backoff: { type: 'exponential', delay: 500 },
        ignoreDependencyOnFailure: true,
        ...kept,
      },
    }));
    if (first === 0) {
      // Made on first use, and anew after a start that failed (see VersionQueues.flows).
      await this.queues.flows().add({
        name: 'batch',
        queueName: parentQueue.name,
        data: { batchId: batch.id, keepS: ttlS } satisfies BatchJobData,
        opts: { jobId: batch.id, ...kept },
        children,
      });
    } else {
      const parent = { id: batch.id, queue: parentQueue.qualifiedName };
      await this.queues
        .bulk<PredictionJobData>(batch.model, batch.version)
        .addBulk(
          children.map(({ name, data, opts }) => ({ name, data, opts: { ...opts, parent } })),
        );
    }
  }

  /**
   * Lets workers take the staged chunks of a batch whose input was read whole, in order; with
   * REDIS_ACK_REPLICAS, resolves once replicas hold them (a 503 problem when they do not).
   */
  async release(batch: StagedBatch, chunks: number): Promise<void> {
    const queue = this.queues.bulk<PredictionJobData>(batch.model, batch.version);
    for (let start = 0; start < chunks; start += READ_SLICE) {
      const ids = Array.from({ length: Math.min(READ_SLICE, chunks - start) }, (_, i) =>
        chunkId(batch.id, start + i),
      );
      // A job handle needs only its queue and id to be promoted: its data stays in Redis.
      await Promise.all(ids.map((id) => new Job(queue, 'chunk', undefined, {}, id).promote()));
    }
    // REDIS_ACK_REPLICAS: the batch is accepted once replicas hold its parent and every chunk
    // (written before it, on this node: the version's slot).
    const parents = this.queues.queue(batchParentQueueName(batch.model, batch.version));
    await this.acknowledgement.replicated(parents, [batch.id]);
  }

  /**
   * Removes a batch whose input was refused: its staged chunks a slice at a time (see
   * removeWaitingChildren), then its parent with the last one (a parent left with no chunk would
   * be released to a worker).
   */
  async discard(batch: StagedBatch): Promise<void> {
    const parents = this.queues.queue(batchParentQueueName(batch.model, batch.version));
    const chunks = this.queues.bulk<PredictionJobData>(batch.model, batch.version);
    await removeWaitingChildren(parents, batch.id, chunks, { keep: 1 });
    await parents.remove(batch.id);
  }

  /** Chunks done so far: scored, and failed or ignored. */
  async progress(batch: BatchRecord): Promise<{ scored: number; failed: number }> {
    const parent = await this.parent(batch);
    if (!parent) return { scored: 0, failed: 0 };
    const deps = await parent.getDependenciesCount({
      processed: true,
      ignored: true,
      failed: true,
    });
    return { scored: deps.processed ?? 0, failed: (deps.ignored ?? 0) + (deps.failed ?? 0) };
  }

  /**
   * Removes the chunks no worker has taken yet, a slice at a time (see removeWaitingChildren),
   * and counts them as gone from the queue so that the work behind them moves up (their rows
   * counted at the batch's average per chunk). Chunks a worker holds finish or fail as they go.
   */
  async removeUnprocessed(batch: BatchRecord): Promise<void> {
    const parents = this.queues.queue(batchParentQueueName(batch.model, batch.version));
    const chunks = this.queues.bulk<PredictionJobData>(batch.model, batch.version);
    const removed = await removeWaitingChildren(parents, batch.id, chunks);
    if (removed > 0) {
      const rows = Math.round((removed * batch.total) / batch.chunks);
      const queue = bulkQueueName(batch.model, batch.version);
      await this.queueProgress.started(queue, removed, rows);
    }
  }

  private async parent(batch: BatchRecord): Promise<Job | undefined> {
    const queue = this.queues.queue(batchParentQueueName(batch.model, batch.version));
    return (await queue.getJob(batch.id)) as Job | undefined;
  }

  /** Waits (up to a minute each) for the chunks in a worker's hands to finish. */
  async settleActive(batch: BatchRecord): Promise<void> {
    for (const job of await this.chunkJobs(batch)) {
      if (job && (await job.getState()) === 'active') {
        await this.waiter.wait(job.queueName, job.id!, 60_000);
      }
    }
  }

  /** Each chunk's rows and outcome. */
  async outcomes(batch: BatchRecord): Promise<ChunkOutcome[]> {
    const outcomes: ChunkOutcome[] = [];
    for (const job of await this.chunkJobs(batch)) {
      if (!job) continue;
      const rows = job.data.bulk?.rows ?? [];
      if (job.finishedOn && job.returnvalue) {
        const provenance = textProvenances(job.returnvalue);
        outcomes.push({
          rows,
          outputs: job.returnvalue.output,
          ...(provenance ? { provenance } : {}),
        });
      } else if (job.finishedOn && job.failedReason)
        outcomes.push({ rows, outputs: [], error: job.failedReason });
      else outcomes.push({ rows, outputs: [], error: null });
    }
    return outcomes;
  }

  private async chunkJobs(batch: BatchRecord): Promise<(ChunkJob | undefined)[]> {
    const queue = this.queues.bulk<PredictionJobData>(batch.model, batch.version);
    const jobs: (ChunkJob | undefined)[] = [];
    for (let start = 0; start < batch.chunks; start += READ_SLICE) {
      const slice = Array.from({ length: Math.min(READ_SLICE, batch.chunks - start) }, (_, i) =>
        queue.getJob(chunkId(batch.id, start + i)),
      );
      jobs.push(...((await Promise.all(slice)) as (ChunkJob | undefined)[]));
    }
    return jobs;
  }
}

/** Job id of chunk `k` of a batch. */
export function chunkId(batchId: string, k: number): string {
  return `${batchId}-${k}`;
}
