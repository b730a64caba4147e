import { createReadStream, existsSync, statSync } from 'node:fs';
import { extname, isAbsolute, relative, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  BATCH_QUEUE,
  bulkQueueName,
  type BulkRow,
  type PredictionJobData,
  type PredictionJobResult,
} from '@app/common';
import type { Prediction } from '@app/handler';
import { API_CONFIG, type ApiConfig } from '../config';
import { QueueHub } from '../infra/queue-hub';
import { REDIS } from '../infra/shared';
import { PredictionService } from '../predictions/prediction.service';
import { Problem, notFound } from '../problem/problem';
import { WebhookState } from '../webhooks/webhook-state';
import { WebhookTargetGuard } from '../webhooks/webhook-target-guard';
import type { CreateBatchOptions } from './batch.dto';
import { readDataset, type RowError } from './dataset-reader';

export type BatchStatus = 'running' | 'succeeded' | 'canceled';

/** Accuracy and confusion matrix (rows: gold, columns: predicted) of a batch with gold labels. */
export interface BatchSummary {
  succeeded: number;
  failed: number;
  accuracy?: number;
  labels?: string[];
  confusion?: number[][];
}

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
  summary?: BatchSummary;
  urls: { get: string; cancel: string; results: string; errors: string };
}

/** One scored row as the results file has it. */
export interface ScoredRow {
  line: number;
  id: string;
  label: number;
  label_name: string;
  probability: number;
  probabilities?: number[];
  gold?: number;
  [passthrough: string]: unknown;
}

/**
 * Bulk scoring: reads a dataset, splits it into chunk jobs (a BullMQ flow: a parent on the
 * batches queue, chunks on the version's bulk queue, which workers serve after online work),
 * reports progress, cancels, and assembles results and errors joined to the input ids.
 */
@Injectable()
export class BatchService {
  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly queues: QueueHub,
    private readonly predictions: PredictionService,
    private readonly webhookState: WebhookState,
    private readonly webhookGuard: WebhookTargetGuard,
  ) {}

  private key(id: string, ...parts: string[]): string {
    return [this.config.KEY_PREFIX, 'batch', id, ...parts].join(':');
  }

  /** Reads the input (an upload, or a file of the data folder) and enqueues its chunks. */
  async create(
    options: CreateBatchOptions,
    upload?: { body: string; contentType: string },
  ): Promise<BatchView> {
    const record = await this.predictions.resolve(options.model, options.version);
    if (options.webhook) await this.webhookGuard.assertAllowed(options.webhook);
    const { input, format } = this.openInput(options, upload);
    const dataset = await readDataset(
      input,
      format,
      {
        text: options.text,
        id: options.id,
        passthrough: options.passthrough,
        label: options.label,
        labelBase: options.label_base,
        columns: options.columns,
      },
      record.labels,
    );
    if (dataset.rows.length === 0) {
      throw new Problem(
        422,
        'No rows to score',
        `none of the ${dataset.errors.length} rows can be scored`,
        {
          errors: dataset.errors.slice(0, 20),
        },
      );
    }
    const id = randomUUID();
    // A chunk is at most one forward pass, so online work never waits long behind one.
    const chunkSize = Math.min(
      options.chunk_size ?? this.config.BATCH_CHUNK_SIZE,
      record.manifest.batching.max_batch_size,
    );
    const chunks = chunkByLength(dataset.rows, chunkSize);
    const ttl = this.config.RESULT_TTL_S;
    const meta = {
      model: record.name,
      version: record.version,
      total: dataset.rows.length,
      invalid: dataset.errors.length,
      chunks: chunks.length,
      created_at: new Date().toISOString(),
      status: 'running',
      labels: JSON.stringify(record.labels),
      gold: options.label ? '1' : '0',
      ...(options.webhook ? { webhook: options.webhook } : {}),
    };
    const tx = this.redis.multi().hset(this.key(id), meta).expire(this.key(id), ttl);
    if (dataset.errors.length) {
      tx.rpush(this.key(id, 'errors'), ...dataset.errors.map((e) => JSON.stringify(e))).expire(
        this.key(id, 'errors'),
        ttl,
      );
    }
    await tx.exec();
    const bulkQueue = bulkQueueName(record.name, record.version);
    await this.queues.flows().add({
      name: 'batch',
      queueName: BATCH_QUEUE,
      data: { batchId: id },
      opts: { jobId: id, removeOnComplete: { age: ttl }, removeOnFail: { age: ttl } },
      children: chunks.map((rows, k) => ({
        name: 'chunk',
        queueName: bulkQueue,
        data: {
          model: record.name,
          version: record.version,
          texts: rows.map((r) => r.text),
          probabilities: options.probabilities,
          bulk: { batchId: id, rows: rows.map(({ text: _, ...row }) => row) },
        } satisfies PredictionJobData,
        opts: {
          jobId: chunkId(id, k),
          attempts: this.config.JOB_ATTEMPTS,
          backoff: { type: 'exponential', delay: 500 },
          removeOnComplete: { age: ttl },
          removeOnFail: { age: ttl },
          ignoreDependencyOnFailure: true,
        },
      })),
    });
    return this.view(id);
  }

  private openInput(
    options: CreateBatchOptions,
    upload?: { body: string; contentType: string },
  ): { input: Readable; format: 'csv' | 'jsonl' } {
    if (upload) {
      const format = options.format ?? (/csv/.test(upload.contentType) ? 'csv' : 'jsonl');
      return { input: Readable.from([upload.body]), format };
    }
    if (!options.path) {
      throw new Problem(
        400,
        'Invalid request',
        'send the file as the body (text/csv or application/x-ndjson), or name a "path" in the data folder',
      );
    }
    const root = resolve(this.config.DATA_DIR);
    const file = resolve(root, options.path);
    const inside = relative(root, file);
    if (inside.startsWith('..') || isAbsolute(inside)) {
      throw new Problem(400, 'Invalid request', `"${options.path}" is outside the data folder`);
    }
    if (!existsSync(file) || !statSync(file).isFile()) {
      throw new Problem(404, 'Not found', `"${options.path}" is not a file of the data folder`);
    }
    const format = options.format ?? (extname(file).toLowerCase() === '.csv' ? 'csv' : 'jsonl');
    return { input: createReadStream(file), format };
  }

  async view(id: string): Promise<BatchView> {
    const meta = await this.readMeta(id);
    const total = Number(meta.total);
    const chunks = Number(meta.chunks);
    const status = meta.status as BatchStatus;
    const summary = meta.summary ? (JSON.parse(meta.summary) as BatchSummary) : undefined;
    let succeeded: number;
    let failed: number;
    if (summary) {
      ({ succeeded, failed } = summary);
    } else {
      const parent = await this.queues.queue(BATCH_QUEUE).getJob(id);
      const deps = parent
        ? await parent.getDependenciesCount({ processed: true, ignored: true, failed: true })
        : { processed: 0, ignored: 0, failed: 0 };
      const perChunk = total / chunks;
      succeeded = Math.round((deps.processed ?? 0) * perChunk);
      failed = Math.round(((deps.ignored ?? 0) + (deps.failed ?? 0)) * perChunk);
    }
    const created = Date.parse(meta.created_at);
    const completed = meta.completed_at ? Date.parse(meta.completed_at) : undefined;
    const seconds = ((completed ?? Date.now()) - created) / 1000;
    const done = succeeded + failed;
    const rate = seconds > 0 && done > 0 ? done / seconds : null;
    const pending = status === 'running' ? Math.max(0, total - done) : 0;
    const base = `/v1/batches/${id}`;
    return {
      id,
      model: meta.model,
      version: meta.version,
      status,
      counts: { total, succeeded, failed, invalid: Number(meta.invalid), pending },
      rows_per_second: rate === null ? null : Math.round(rate * 10) / 10,
      eta_seconds: rate && status === 'running' ? Math.round((pending / rate) * 10) / 10 : null,
      created_at: meta.created_at,
      completed_at: meta.completed_at ?? null,
      ...(summary ? { summary } : {}),
      urls: {
        get: base,
        cancel: `${base}/cancel`,
        results: `${base}/results`,
        errors: `${base}/errors`,
      },
    };
  }

  /** Stops a running batch: chunks not yet taken are removed; what is scored stays downloadable. */
  async cancel(id: string): Promise<BatchView> {
    const view = await this.view(id);
    if (view.status !== 'running') {
      throw new Problem(409, 'Already finished', `batch "${id}" is ${view.status}`, {
        batch_status: view.status,
      });
    }
    await this.redis.hset(this.key(id), 'status', 'canceled');
    const parent = await this.queues.queue(BATCH_QUEUE).getJob(id);
    await parent?.removeUnprocessedChildren();
    // Chunks already in a worker's hands finish; then the batch is summed up as it stands.
    await this.finish(id, true);
    return this.view(id);
  }

  /**
   * Sums up a batch once its chunks are done (or, when canceling, once those in hand are):
   * counts, accuracy and confusion matrix, completion time, and the webhook.
   */
  async finish(id: string, waitForActive = false): Promise<void> {
    const meta = await this.redis.hgetall(this.key(id));
    if (!meta.model || meta.summary) return;
    if (waitForActive) {
      for (const job of await this.chunkJobs(id, meta)) {
        if (job && (await job.getState()) === 'active') {
          const events = await this.queues.queueEvents(job.queueName);
          await job.waitUntilFinished(events, 60_000).catch(() => undefined);
        }
      }
    }
    const labels = JSON.parse(meta.labels) as string[];
    const gold = meta.gold === '1';
    const confusion = labels.map(() => labels.map(() => 0));
    const summary: BatchSummary = { succeeded: 0, failed: 0 };
    let correct = 0;
    for (const { rows, outputs, error } of await this.chunkOutcomes(id, meta)) {
      if (error !== undefined) {
        if (error !== null) summary.failed += rows.length;
        continue;
      }
      summary.succeeded += rows.length;
      rows.forEach((row, i) => {
        const label = (outputs[i] as Prediction).label;
        if (gold && row.gold !== undefined) {
          confusion[row.gold][label]++;
          if (row.gold === label) correct++;
        }
      });
    }
    if (gold)
      Object.assign(summary, {
        accuracy: summary.succeeded ? correct / summary.succeeded : 0,
        labels,
        confusion,
      });
    await this.redis.hset(this.key(id), {
      summary: JSON.stringify(summary),
      completed_at: new Date().toISOString(),
      ...(meta.status === 'running' ? { status: 'succeeded' } : {}),
    });
    if (meta.webhook) await this.webhookState.enqueueBatch(id, meta.webhook);
  }

  /** Scored rows in input order, joined to their ids and passthrough columns. */
  async results(id: string): Promise<ScoredRow[]> {
    const meta = await this.readMeta(id);
    const scored: ScoredRow[] = [];
    for (const { rows, outputs, error } of await this.chunkOutcomes(id, meta)) {
      if (error !== undefined) continue;
      rows.forEach((row, i) => {
        const p = outputs[i] as Prediction;
        scored.push({
          line: row.line,
          id: row.id,
          label: p.label,
          label_name: p.label_name,
          probability: p.probability,
          ...(p.probabilities ? { probabilities: p.probabilities } : {}),
          ...(row.gold !== undefined ? { gold: row.gold } : {}),
          ...row.passthrough,
        });
      });
    }
    return scored.sort((a, b) => a.line - b.line);
  }

  /** Rows that could not be read or scored, in line order. */
  async errors(id: string): Promise<RowError[]> {
    const meta = await this.readMeta(id);
    const errors = (await this.redis.lrange(this.key(id, 'errors'), 0, -1)).map(
      (e) => JSON.parse(e) as RowError,
    );
    for (const { rows, error } of await this.chunkOutcomes(id, meta)) {
      if (error) errors.push(...rows.map((row) => ({ line: row.line, id: row.id, error })));
    }
    return errors.sort((a, b) => a.line - b.line);
  }

  /** The batch's stored fields; 404 when there is no such batch. */
  private async readMeta(id: string): Promise<Record<string, string>> {
    const meta = await this.redis.hgetall(this.key(id));
    if (!meta.model) throw notFound(`no batch with id "${id}"`);
    return meta;
  }

  private async chunkJobs(
    id: string,
    meta: Record<string, string>,
  ): Promise<(Job<PredictionJobData, PredictionJobResult> | undefined)[]> {
    const queue = this.queues.queue<PredictionJobData>(bulkQueueName(meta.model, meta.version));
    const count = Number(meta.chunks);
    const jobs: (Job<PredictionJobData, PredictionJobResult> | undefined)[] = [];
    for (let start = 0; start < count; start += 200) {
      const slice = Array.from({ length: Math.min(200, count - start) }, (_, i) =>
        queue.getJob(chunkId(id, start + i)),
      );
      jobs.push(
        ...((await Promise.all(slice)) as (
          Job<PredictionJobData, PredictionJobResult> | undefined
        )[]),
      );
    }
    return jobs;
  }

  /**
   * Each chunk's rows with its outputs; `error` is a failure reason for a failed chunk, null
   * for one removed or not finished (canceled), undefined for a scored one.
   */
  private async chunkOutcomes(id: string, meta: Record<string, string>) {
    const outcomes: { rows: BulkRow[]; outputs: unknown[]; error?: string | null }[] = [];
    for (const job of await this.chunkJobs(id, meta)) {
      if (!job) continue;
      const rows = job.data.bulk?.rows ?? [];
      if (job.finishedOn && job.returnvalue)
        outcomes.push({ rows, outputs: job.returnvalue.output });
      else if (job.finishedOn && job.failedReason)
        outcomes.push({ rows, outputs: [], error: job.failedReason });
      else outcomes.push({ rows, outputs: [], error: null });
    }
    return outcomes;
  }
}

/** Job id of chunk `k` of a batch. */
export function chunkId(batchId: string, k: number): string {
  return `${batchId}-${k}`;
}

/**
 * Sorts rows by text length and cuts them into chunks of near-equal size (at most `size`):
 * each chunk then holds texts of similar length, so the worker's batches carry little padding.
 */
export function chunkByLength<T extends { text: string }>(rows: readonly T[], size: number): T[][] {
  const sorted = [...rows].sort((a, b) => a.text.length - b.text.length);
  const count = Math.ceil(sorted.length / size);
  const chunks: T[][] = [];
  for (let k = 0; k < count; k++) {
    chunks.push(
      sorted.slice(
        Math.floor((k * sorted.length) / count),
        Math.floor(((k + 1) * sorted.length) / count),
      ),
    );
  }
  return chunks;
}
