import { Inject, Injectable } from '@nestjs/common';
import type { RedisConnection } from '@app/common';
import { API_CONFIG, type ApiConfig } from '../config';
import { REDIS } from '../core/core.module';
import type { RowError } from './dataset-reader';

export type BatchStatus = 'running' | 'succeeded' | 'canceled';

/** Accuracy and confusion matrix (rows: gold, columns: predicted) of a batch with gold labels. */
export interface BatchSummary {
  succeeded: number;
  failed: number;
  /** Scored rows the result cache answered without inference. */
  cached_rows?: number;
  accuracy?: number;
  labels?: string[];
  confusion?: number[][];
}

/** What is stored of a batch besides its jobs. */
export interface BatchRecord {
  id: string;
  model: string;
  version: string;
  /** Rows put on the queue, and rows refused while reading the input. */
  total: number;
  invalid: number;
  chunks: number;
  createdAt: string;
  status: BatchStatus;
  labels: string[];
  /** The input maps a gold label column. */
  gold: boolean;
  /** What the input's first label is numbered (its gold labels are shown the same way). */
  labelBase: number;
  webhook?: string;
  /** Jobs and rows its version's bulk queue was given before this batch's chunks. */
  queuedAfter?: { jobs: number; texts: number };
  /** Set once the batch is summed up. */
  summary?: BatchSummary;
  completedAt?: string;
}

/** Batches in Redis: a hash of fields per batch, and the list of rows refused on reading. */
@Injectable()
export class BatchStore {
  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    @Inject(REDIS) private readonly redis: RedisConnection,
  ) {}

  /** A batch's keys share the hash tag of its id: written in one transaction, even on a cluster. */
  private key(id: string, ...parts: string[]): string {
    return [this.config.KEY_PREFIX, 'batch', `{${id}}`, ...parts].join(':');
  }

  /** Stores a new batch, kept for RESULT_TTL_S (its refused rows are appended as they are read). */
  async create(record: Omit<BatchRecord, 'summary' | 'completedAt'>) {
    const fields = {
      model: record.model,
      version: record.version,
      total: record.total,
      invalid: record.invalid,
      chunks: record.chunks,
      created_at: record.createdAt,
      status: record.status,
      labels: JSON.stringify(record.labels),
      gold: record.gold ? '1' : '0',
      label_base: record.labelBase,
      ...(record.webhook ? { webhook: record.webhook } : {}),
      ...(record.queuedAfter
        ? { queued_after: `${record.queuedAfter.jobs},${record.queuedAfter.texts}` }
        : {}),
    };
    await this.redis
      .multi()
      .hset(this.key(record.id), fields)
      .expire(this.key(record.id), this.config.RESULT_TTL_S)
      .exec();
  }

  /** Appends rows refused while reading a batch's input, kept for RESULT_TTL_S. */
  async appendErrors(id: string, errors: RowError[]): Promise<void> {
    const list = this.key(id, 'errors');
    await this.redis
      .multi()
      .rpush(list, ...errors.map((e) => JSON.stringify(e)))
      .expire(list, this.config.RESULT_TTL_S)
      .exec();
  }

  /** Forgets the refused rows of a batch whose input was refused as a whole. */
  async discardErrors(id: string): Promise<void> {
    // Freed in the background: the list may hold up to BATCH_MAX_ROWS entries.
    await this.redis.unlink(this.key(id, 'errors'));
  }

  /** The batch, or undefined when there is no such batch (or it expired). */
  async find(id: string): Promise<BatchRecord | undefined> {
    const meta = await this.redis.hgetall(this.key(id));
    if (!meta.model) return undefined;
    return {
      id,
      model: meta.model,
      version: meta.version,
      total: Number(meta.total),
      invalid: Number(meta.invalid),
      chunks: Number(meta.chunks),
      createdAt: meta.created_at,
      status: meta.status as BatchStatus,
      labels: JSON.parse(meta.labels) as string[],
      gold: meta.gold === '1',
      labelBase: Number(meta.label_base ?? 0),
      ...(meta.webhook ? { webhook: meta.webhook } : {}),
      ...(meta.queued_after ? { queuedAfter: queuedAfter(meta.queued_after) } : {}),
      ...(meta.summary ? { summary: JSON.parse(meta.summary) as BatchSummary } : {}),
      ...(meta.completed_at ? { completedAt: meta.completed_at } : {}),
    };
  }

  async markCanceled(id: string): Promise<void> {
    await this.redis.hset(this.key(id), 'status', 'canceled');
  }

  /** Records the summary of a finished batch; a running one becomes succeeded. */
  async finish(batch: BatchRecord, summary: BatchSummary, completedAt: string): Promise<void> {
    await this.redis.hset(this.key(batch.id), {
      summary: JSON.stringify(summary),
      completed_at: completedAt,
      ...(batch.status === 'running' ? { status: 'succeeded' } : {}),
    });
  }

  /** Rows refused while reading the input. */
  async readErrors(id: string): Promise<RowError[]> {
    const raw = await this.redis.lrange(this.key(id, 'errors'), 0, -1);
    return raw.map((e) => JSON.parse(e) as RowError);
  }
}

function queuedAfter(field: string): { jobs: number; texts: number } {
  const [jobs, texts] = field.split(',').map(Number);
  return { jobs, texts };
}
