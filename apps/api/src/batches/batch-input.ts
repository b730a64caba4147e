import { createReadStream, realpathSync, statSync } from 'node:fs';
import { extname, isAbsolute, relative, resolve } from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import { Problem } from '../core/problem';
import type { CreateBatchOptions } from './batch.dto';
import { limitedUpload, lineLimit, type LineLimits } from './upload-limits';

/** A dataset to read, and how. */
export interface BatchInput {
  input: Readable;
  format: 'csv' | 'jsonl';
}

/** An uploaded dataset: the body, not read yet, and its headers. */
export interface Upload {
  body: Readable;
  contentType: string;
  contentEncoding?: string;
  contentLength?: number;
}

/** Bounds on what a batch may read. */
export interface InputLimits {
  /** Largest upload, as sent and once decoded. */
  maxBytes: number;
  /** Bounds on each line of an upload or a data-folder file. */
  line: LineLimits;
}

/**
 * The dataset of a batch: the upload, or a file of the data folder named by `path`. Nothing is
 * read here; the stream fails with a 413 as soon as a limit is passed.
 */
export function openBatchInput(
  options: CreateBatchOptions,
  dataDir: string,
  limits: InputLimits,
  upload?: Upload,
): BatchInput {
  if (upload) {
    if (upload.contentLength !== undefined && upload.contentLength > limits.maxBytes) {
      throw new Problem(
        413,
        'Payload too large',
        `the upload is over the limit of ${limits.maxBytes} bytes`,
      );
    }
    const format = options.format ?? (/csv/.test(upload.contentType) ? 'csv' : 'jsonl');
    const line = lineLimitsOf(format, limits);
    return {
      input: limitedUpload(upload.body, upload.contentEncoding, { ...limits, line }),
      format,
    };
  }
  if (!options.path) {
    throw new Problem(
      400,
      'Invalid request',
      'send the file as the body (text/csv or application/x-ndjson), or name a "path" in the data folder',
    );
  }
  const file = dataFile(dataDir, options.path);
  const format = options.format ?? (extname(file).toLowerCase() === '.csv' ? 'csv' : 'jsonl');
  const input = lineLimit(lineLimitsOf(format, limits));
  pipeline(createReadStream(file), input, () => undefined);
  return { input, format };
}

/** The comma bound is for CSV records only: a JSON line's commas cost a parser nothing much. */
const lineLimitsOf = (format: 'csv' | 'jsonl', limits: InputLimits): LineLimits =>
  format === 'csv' ? limits.line : { maxBytes: limits.line.maxBytes };

/**
 * The real path of a file of the data folder. The path must stay inside the folder as written
 * and again once every symlink on the way is resolved: a link inside the folder that points
 * out of it is refused like `../`. A hard link cannot be resolved (it is the file, under one
 * more name), so a file with more than one name is refused: it may be a file from outside.
 */
function dataFile(dataDir: string, path: string): string {
  const outside = () => new Problem(400, 'Invalid request', `"${path}" is outside the data folder`);
  const notFound = () =>
    new Problem(404, 'Not found', `"${path}" is not a file of the data folder`);
  const root = resolve(dataDir);
  if (!inside(root, resolve(root, path))) throw outside();
  let real: string;
  let realRoot: string;
  try {
    realRoot = realpathSync(root);
    real = realpathSync(resolve(root, path));
  } catch {
    throw notFound();
  }
  if (!inside(realRoot, real)) throw outside();
  const stats = statSync(real);
  if (!stats.isFile()) throw notFound();
  if (stats.nlink > 1) {
    throw new Problem(
      400,
      'Invalid request',
      `"${path}" has ${stats.nlink} hard links: a file of the data folder must have one name only, ` +
        'so that it cannot be a file from outside under a second name; copy the file in instead',
    );
  }
  return real;
}

function inside(root: string, file: string): boolean {
  const rel = relative(root, file);
  return !rel.startsWith('..') && !isAbsolute(rel);
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
