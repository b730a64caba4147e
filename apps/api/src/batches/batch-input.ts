import { createReadStream, existsSync, statSync } from 'node:fs';
import { extname, isAbsolute, relative, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { Problem } from '../core/problem';
import type { CreateBatchOptions } from './batch.dto';

/** A dataset to read, and how. */
export interface BatchInput {
  input: Readable;
  format: 'csv' | 'jsonl';
}

/** An uploaded dataset: the body and its content type. */
export interface Upload {
  body: string;
  contentType: string;
}

/** The dataset of a batch: the upload, or a file of the data folder named by `path`. */
export function openBatchInput(
  options: CreateBatchOptions,
  dataDir: string,
  upload?: Upload,
): BatchInput {
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
  const root = resolve(dataDir);
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
