import { setImmediate as nextTurn } from 'node:timers/promises';
import { Problem } from '../core/problem';
import { chunkByLength } from './batch-input';
import type { DatasetRecord, DatasetRow, RowError } from './dataset-reader';

/** Where the rows and row errors of a dataset go as they are read. */
export interface StagingSink {
  /** Keeps chunks of rows, numbered from `first` on. */
  chunks(chunks: DatasetRow[][], first: number): Promise<void>;
  /** Keeps row errors. */
  errors(errors: RowError[]): Promise<void>;
}

/** How a dataset is cut, and how large it may be. */
export interface StagingLimits {
  /** Most rows per chunk. */
  chunkSize: number;
  /** Most records of a dataset, rows and row errors together: past it, 413. */
  maxRows: number;
}

/** What was read and handed on. */
export interface StagedDataset {
  rows: number;
  /** Records that cannot be scored. */
  invalid: number;
  chunks: number;
  /** The first row errors (at most {@link FIRST_ERRORS}), for an answer that cannot list all. */
  firstErrors: RowError[];
}

/** Chunks' worth of rows sorted by length together before they are cut. */
const WINDOW_CHUNKS = 16;
/** Most text characters held before the rows are cut into chunks, however few they are. */
const WINDOW_CHARS = 8 * 1024 * 1024;
/**
 * Most characters (texts, ids and passthrough columns) of a chunk, and of the chunks handed on
 * at once: each hand-off is one Redis write, bounded like the job of the largest prediction
 * request (MAX_BODY_BYTES by default), so that it is answered within REDIS_COMMAND_TIMEOUT_MS
 * like that one, whatever the dataset's texts. A row larger than this is a chunk and a write
 * of its own (BATCH_MAX_RECORD_BYTES bounds it).
 */
export const WRITE_CHARS = 1024 * 1024;
/** Row errors held before they are handed on. */
const ERROR_SLICE = 1000;
export const FIRST_ERRORS = 20;

/**
 * Hands a dataset on as it is read, so that what it holds is bounded whatever the dataset's
 * length: rows gather in a window (16 chunks' worth, or 8 MiB of text), which is sorted by text
 * length and cut into chunks (of at most {@link WRITE_CHARS} characters too) for the sink, in
 * hand-offs of at most {@link WRITE_CHARS} characters; row errors go to the sink a thousand at a time,
 * counted, the first twenty kept. Past `maxRows` records it fails with a 413 and reads no more.
 * Between two slices of records it lets the event loop turn, so other requests are answered
 * while a large upload is read.
 */
export async function stageDataset(
  records: AsyncIterable<DatasetRecord[]>,
  sink: StagingSink,
  limits: StagingLimits,
): Promise<StagedDataset> {
  const staged: StagedDataset = { rows: 0, invalid: 0, chunks: 0, firstErrors: [] };
  let window: DatasetRow[] = [];
  let windowChars = 0;
  let errors: RowError[] = [];
  const flushWindow = async () => {
    if (window.length === 0) return;
    const chunks = chunkByLength(window, limits.chunkSize);
    window = [];
    windowChars = 0;
    for (const write of byWeight(
      chunks.flatMap((chunk) => byWeight(chunk, rowChars)),
      chunkChars,
    )) {
      await sink.chunks(write, staged.chunks);
      staged.chunks += write.length;
    }
  };
  const flushErrors = async () => {
    if (errors.length === 0) return;
    const slice = errors;
    errors = [];
    await sink.errors(slice);
  };
  for await (const slice of records) {
    for (const record of slice) {
      if (staged.rows + staged.invalid >= limits.maxRows) throw tooManyRows(limits.maxRows);
      if ('error' in record) {
        staged.invalid++;
        errors.push(record);
        if (staged.firstErrors.length < FIRST_ERRORS) staged.firstErrors.push(record);
      } else {
        staged.rows++;
        window.push(record);
        windowChars += record.text.length;
      }
    }
    if (window.length >= WINDOW_CHUNKS * limits.chunkSize || windowChars >= WINDOW_CHARS) {
      await flushWindow();
    }
    if (errors.length >= ERROR_SLICE) await flushErrors();
    await nextTurn();
  }
  await flushWindow();
  await flushErrors();
  staged.firstErrors.sort((a, b) => a.line - b.line);
  return staged;
}

/** Characters a row takes in its chunk's job. */
export function rowChars(row: DatasetRow): number {
  let chars = row.text.length + row.id.length;
  for (const [key, value] of Object.entries(row.passthrough ?? {}))
    chars += key.length + value.length;
  return chars;
}

const chunkChars = (chunk: DatasetRow[]): number =>
  chunk.reduce((sum, row) => sum + rowChars(row), 0);

/**
 * `items` in order, cut into runs of at most {@link WRITE_CHARS} characters by `weight`; an
 * item heavier than that is a run of its own.
 */
export function byWeight<T>(items: readonly T[], weight: (item: T) => number): T[][] {
  const runs: T[][] = [];
  let run: T[] = [];
  let chars = 0;
  for (const item of items) {
    const w = weight(item);
    if (run.length > 0 && chars + w > WRITE_CHARS) {
      runs.push(run);
      run = [];
      chars = 0;
    }
    run.push(item);
    chars += w;
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

const tooManyRows = (maxRows: number) =>
  new Problem(
    413,
    'Too many rows',
    `the dataset has more than ${maxRows} rows (BATCH_MAX_ROWS): split it into batches of at most ${maxRows} rows`,
    { max_rows: maxRows },
  );
