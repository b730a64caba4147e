import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { API_CONFIG, type ApiConfig } from '../config';
import { ModelCatalog } from '../core/model-catalog';
import { QueueEstimates } from '../core/queue-estimates';
import { Problem, notFound } from '../core/problem';
import { WebhookAnnouncer } from '../webhooks/webhook-announcer';
import { WebhookTargetGuard } from '../webhooks/webhook-target-guard';
import type { CreateBatchOptions } from './batch.dto';
import { BatchFlow, type StagedBatch } from './batch-flow';
import { openBatchInput, type Upload } from './batch-input';
import { scoredRows, summarize, type ScoredRow } from './batch-results';
import { BatchStore, type BatchRecord } from './batch.store';
import { describeBatch, type BatchView } from './batch-view';
import { readDataset, type DatasetRecord, type RowError } from './dataset-reader';
import { stageDataset, type StagedDataset } from './dataset-staging';
import { asUploadProblem } from '../core/body-stream';

/**
 * Bulk scoring: reads a dataset into chunk jobs as it streams, reports progress, cancels, sums up,
 * and assembles results and errors joined to the input ids.
 */
@Injectable()
export class BatchService {
  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly catalog: ModelCatalog,
    private readonly store: BatchStore,
    private readonly flow: BatchFlow,
    private readonly webhookGuard: WebhookTargetGuard,
    private readonly announcer: WebhookAnnouncer,
    private readonly estimates: QueueEstimates,
  ) {}

  /**
   * Reads the input (an upload, or a file of the data folder) and stages its chunks as it goes,
   * each carrying the batch's `deadline` (epoch ms) when one was given. Once the input is read
   * whole, the batch is recorded and its chunks released to the workers; an input refused on the
   * way (too large, too many rows, undecodable, cut short, no row to score) leaves nothing behind.
   */
  async create(
    options: CreateBatchOptions,
    upload?: Upload,
    deadline?: number,
  ): Promise<BatchView> {
    const { record } = await this.catalog.resolve(options.model, options.version);
    if (options.webhook) await this.webhookGuard.assertAllowed(options.webhook);
    const { input, format } = openBatchInput(
      options,
      this.config.DATA_DIR,
      {
        maxBytes: this.config.BATCH_MAX_BYTES,
        line: {
          maxBytes: this.config.BATCH_MAX_RECORD_BYTES,
          // Quoted commas in texts count too: allow far more than columns.
          maxCommas: 10 * this.config.BATCH_MAX_COLUMNS,
        },
      },
      upload,
    );
    const records = readDataset(
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
      {
        maxRecordBytes: this.config.BATCH_MAX_RECORD_BYTES,
        maxColumns: this.config.BATCH_MAX_COLUMNS,
      },
    );
    const batch: StagedBatch = {
      id: randomUUID(),
      model: record.name,
      version: record.version,
      stagedAt: Date.now(),
    };
    const staged = await this.stage(batch, records, {
      // A chunk is at most one forward pass, so online work never waits long behind one.
      chunkSize: Math.min(
        options.chunk_size ?? this.config.BATCH_CHUNK_SIZE,
        record.manifest.batching.max_batch_size,
      ),
      probabilities: options.probabilities,
      deadline,
    });
    const queuedAfter = await this.flow.reserve(record, staged.chunks, staged.rows);
    await this.store.create({
      id: batch.id,
      model: record.name,
      version: record.version,
      total: staged.rows,
      invalid: staged.invalid,
      chunks: staged.chunks,
      createdAt: new Date(batch.stagedAt).toISOString(),
      status: 'running',
      labels: [...record.labels],
      gold: Boolean(options.label),
      labelBase: options.label_base ?? 0,
      ...(options.webhook ? { webhook: options.webhook } : {}),
      queuedAfter,
    });
    // Should this fail half-way, the chunks not released expire with the batch and fail then.
    await this.flow.release(batch, staged.chunks);
    return this.view(batch.id);
  }

  /**
   * Stages the records of a batch's input as they are read: chunks on the queue, row errors in
   * the store. When the input is refused, or holds no row to score, what was staged is removed.
   */
  private async stage(
    batch: StagedBatch,
    records: AsyncIterable<DatasetRecord[]>,
    options: { chunkSize: number; probabilities?: boolean; deadline?: number },
  ): Promise<StagedDataset> {
    try {
      const staged = await stageDataset(
        records,
        {
          chunks: (chunks, first) => this.flow.stage(batch, chunks, first, options),
          errors: (errors) => this.store.appendErrors(batch.id, errors),
        },
        { chunkSize: options.chunkSize, maxRows: this.config.BATCH_MAX_ROWS },
      );
      if (staged.rows === 0) {
        throw new Problem(
          422,
          'No rows to score',
          `none of the ${staged.invalid} rows can be scored`,
          // Not `errors`: that member of a problem names bad request fields by JSON pointer.
          { row_errors: staged.firstErrors },
        );
      }
      return staged;
    } catch (error) {
      // Best effort: a staged chunk left behind (Redis gone) expires unrun (see BatchFlow.stage).
      await Promise.allSettled([this.flow.discard(batch), this.store.discardErrors(batch.id)]);
      throw asUploadProblem(error);
    }
  }

  /** The batch resource; counts are estimated from finished chunks while it runs. */
  async view(id: string): Promise<BatchView> {
    const batch = await this.find(id);
    const progress = batch.summary ? undefined : await this.flow.progress(batch);
    const queue =
      batch.status === 'running' && batch.queuedAfter
        ? await this.estimates.ofBatch(batch, batch.queuedAfter)
        : undefined;
    return describeBatch(batch, progress, queue);
  }

  /** Stops a running batch: chunks not yet taken are removed; what is scored stays downloadable. */
  async cancel(id: string): Promise<BatchView> {
    const view = await this.view(id);
    if (view.status !== 'running') {
      throw new Problem(
        409,
        'Already finished',
        `batch "${id}" has already finished: ${view.status}`,
        {
          batch_status: view.status,
        },
      );
    }
    await this.store.markCanceled(id);
    await this.flow.removeUnprocessed(await this.find(id));
    // Chunks already in a worker's hands finish; then the batch is summed up as it stands.
    await this.finish(id, true);
    return this.view(id);
  }

  /**
   * Sums up a batch once its chunks are done (or, when canceling, once those in hand are):
   * counts, accuracy and confusion matrix, completion time, and the webhook.
   */
  async finish(id: string, settleActive = false): Promise<void> {
    const batch = await this.store.find(id);
    if (!batch || batch.summary) return;
    if (settleActive) await this.flow.settleActive(batch);
    const summary = summarize(await this.flow.outcomes(batch), batch.labels, batch.gold);
    await this.store.finish(batch, summary, new Date().toISOString());
    if (batch.webhook) await this.announcer.batch(id, batch.webhook);
  }

  /** Scored rows in input order, joined to their ids and passthrough columns. */
  async results(id: string, options: { provenance?: boolean } = {}): Promise<ScoredRow[]> {
    const batch = await this.find(id);
    return scoredRows(await this.flow.outcomes(batch), batch, options);
  }

  /** Rows that could not be read or scored, in line order. */
  async errors(id: string): Promise<RowError[]> {
    const batch = await this.find(id);
    const errors = await this.store.readErrors(id);
    for (const { rows, error } of await this.flow.outcomes(batch)) {
      if (error) errors.push(...rows.map((row) => ({ line: row.line, id: row.id, error })));
    }
    return errors.sort((a, b) => a.line - b.line);
  }

  /** The batch; 404 when there is no such batch. */
  private async find(id: string): Promise<BatchRecord> {
    const batch = await this.store.find(id);
    if (!batch) throw notFound(`no batch with id "${id}"`);
    return batch;
  }
}
