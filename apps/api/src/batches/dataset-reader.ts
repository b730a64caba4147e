import { parse } from 'csv-parse';
import { pipeline, type Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { BulkRow } from '@app/common';
import { Problem } from '../core/problem';

/** How the columns of an input file make a row to score. */
export interface ColumnMapping {
  /** Columns joined with a space to make the text (e.g. title + description). */
  text: string[];
  /** Column holding the row id; the line number when absent. */
  id?: string;
  /** Columns copied to the results. */
  passthrough?: string[];
  /** Column holding the gold label: a label name, or an index counted from `labelBase`. */
  label?: string;
  labelBase?: number;
  /** Column names of a CSV file without a header row. */
  columns?: string[];
}

/** A row ready to score. */
export interface DatasetRow extends BulkRow {
  text: string;
}

/** A row that cannot be scored, and why; `line` is 1-based. */
export interface RowError {
  line: number;
  id?: string;
  error: string;
}

/** What one record of a dataset makes: a row to score, or the reason it cannot be scored. */
export type DatasetRecord = DatasetRow | RowError;

/** Bounds on one record of an input, so that no record can hold the event loop or the memory. */
export interface RecordLimits {
  /** Longest record, in bytes (of a CSV field or record, or of a JSON line). */
  maxRecordBytes: number;
  /** Most columns of a CSV header (or of the `columns` given for a header-less file). */
  maxColumns: number;
}

/** Records of a CSV file handed on at once (a JSONL file hands on those of each piece read). */
const CSV_SLICE = 512;

/**
 * Reads a CSV (header row, or `columns` given) or JSONL input and maps each record to a row, as
 * the input streams in: records come out in slices, each slice the records of one piece of the
 * input, so nothing here holds more than a piece. A malformed record (bad CSV quoting, invalid
 * JSON line, missing text column, a JSON text that is an object or a list, empty text, unknown
 * gold label) becomes an error with its line number; the others are still read. A JSON id, label
 * or passthrough value that is an object reads as its JSON. Stopping the iteration stops reading
 * the input.
 */
export function readDataset(
  input: Readable,
  format: 'csv' | 'jsonl',
  mapping: ColumnMapping,
  labels: readonly string[],
  limits: RecordLimits,
): AsyncGenerator<DatasetRecord[]> {
  const toRecord = (line: number, record: Record<string, unknown>) =>
    toRow(line, record, mapping, labels);
  return format === 'jsonl'
    ? readJsonLines(input, toRecord, limits)
    : readCsv(input, mapping, toRecord, limits);
}

type ToRecord = (line: number, record: Record<string, unknown>) => DatasetRecord;

async function* readJsonLines(
  input: Readable,
  toRecord: ToRecord,
  limits: RecordLimits,
): AsyncGenerator<DatasetRecord[]> {
  let line = 0;
  let pending = '';
  // A character may straddle two chunks: decode across them.
  const decoder = new StringDecoder('utf8');
  const parseLine = (text: string): DatasetRecord | undefined => {
    line++;
    if (text.trim() === '') return undefined;
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch (error) {
      return { line, error: `invalid JSON: ${(error as Error).message}` };
    }
    if (!record || typeof record !== 'object' || Array.isArray(record)) {
      return { line, error: 'a JSON line must be an object' };
    }
    return toRecord(line, record as Record<string, unknown>);
  };
  const parseLines = (parts: string[]) => {
    const records: DatasetRecord[] = [];
    for (const part of parts) {
      const record = parseLine(part.endsWith('\r') ? part.slice(0, -1) : part);
      if (record) records.push(record);
    }
    return records;
  };
  for await (const chunk of input) {
    const parts = (pending + decoder.write(chunk as Buffer)).split('\n');
    pending = parts.pop() ?? '';
    const records = parseLines(parts);
    if (pending.length > limits.maxRecordBytes) throw tooLarge(line + 1, limits);
    if (records.length) yield records;
  }
  pending += decoder.end();
  if (pending !== '') yield parseLines([pending]);
}

async function* readCsv(
  input: Readable,
  mapping: ColumnMapping,
  toRecord: ToRecord,
  limits: RecordLimits,
): AsyncGenerator<DatasetRecord[]> {
  const columns = (header: string[]) => {
    if (header.length > limits.maxColumns) {
      throw new Problem(
        400,
        'Invalid request',
        `the input has more than ${limits.maxColumns} columns`,
      );
    }
    return header;
  };
  if (mapping.columns) columns(mapping.columns);
  const parser = parse({
    columns: mapping.columns ?? columns,
    bom: true,
    info: true,
    relax_column_count: true,
    skip_empty_lines: true,
    skip_records_with_error: true,
    max_record_size: limits.maxRecordBytes,
  });
  // The parser fails with its input, whatever stage of it failed.
  pipeline(input, parser, () => undefined);
  let records: DatasetRecord[] = [];
  let lastSkipped = -1;
  parser.on('skip', (error: Error & { lines?: number; code?: string }) => {
    const line = error.lines ?? 0;
    if (error.code === 'CSV_MAX_RECORD_SIZE') return parser.destroy(tooLarge(line, limits));
    // One broken record can raise several errors; it is one bad row.
    if (line === lastSkipped) return;
    lastSkipped = line;
    records.push({ line, error: `malformed CSV: ${error.message}` });
  });
  for await (const { record, info } of parser as AsyncIterable<{
    record: Record<string, string>;
    info: { lines: number };
  }>) {
    records.push(toRecord(info.lines, record));
    if (records.length >= CSV_SLICE) {
      // The parser may go on while the slice is out (and report skipped records): a fresh array.
      const slice = records;
      records = [];
      yield slice;
    }
  }
  if (records.length) yield records;
}

const tooLarge = (line: number, limits: RecordLimits) =>
  new Problem(
    413,
    'Payload too large',
    `record ${line} is over the limit of ${limits.maxRecordBytes} bytes`,
  );

function toRow(
  line: number,
  record: Record<string, unknown>,
  mapping: ColumnMapping,
  labels: readonly string[],
): DatasetRow | RowError {
  const id = mapping.id ? cellText(record[mapping.id]) : String(line);
  const missing = mapping.text.filter(
    (column) => record[column] === undefined || record[column] === null,
  );
  if (missing.length) return { line, id, error: `missing text column(s): ${missing.join(', ')}` };
  const nested = mapping.text.filter((column) => typeof record[column] === 'object');
  if (nested.length) {
    return { line, id, error: `text column(s) holding an object or a list: ${nested.join(', ')}` };
  }
  const text = mapping.text
    .map((column) => cellText(record[column]))
    .join(' ')
    .trim();
  if (text === '') return { line, id, error: 'empty text' };
  const row: DatasetRow = { line, id, text };
  if (mapping.label) {
    const gold = goldIndex(record[mapping.label], labels, mapping.labelBase ?? 0);
    if (gold === undefined)
      return { line, id, error: `unknown label "${cellText(record[mapping.label])}"` };
    row.gold = gold;
  }
  if (mapping.passthrough?.length) {
    row.passthrough = Object.fromEntries(mapping.passthrough.map((c) => [c, cellText(record[c])]));
  }
  return row;
}

/** A gold value as a label index: a label name (any case), or an integer counted from `base`. */
export function goldIndex(
  value: unknown,
  labels: readonly string[],
  base: number,
): number | undefined {
  const text = cellText(value).trim();
  const byName = labels.findIndex((label) => label.toLowerCase() === text.toLowerCase());
  if (byName >= 0) return byName;
  if (/^-?\d+$/.test(text)) {
    const index = Number(text) - base;
    if (index >= 0 && index < labels.length) return index;
  }
  return undefined;
}

/** A cell as text: a JSON line's number or boolean as written, its object or list as JSON. */
function cellText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return value === undefined || value === null ? '' : JSON.stringify(value);
}
