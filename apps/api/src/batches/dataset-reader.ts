import { parse } from 'csv-parse';
import { Readable } from 'node:stream';
import type { BulkRow } from '@app/common';

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

export interface Dataset {
  rows: DatasetRow[];
  errors: RowError[];
}

/**
 * Reads a CSV (header row, or `columns` given) or JSONL input and maps each record to a row.
 * A malformed record (bad CSV quoting, invalid JSON line, missing text column, empty text,
 * unknown gold label) becomes an error with its line number; the others are still read.
 */
export async function readDataset(
  input: Readable,
  format: 'csv' | 'jsonl',
  mapping: ColumnMapping,
  labels: readonly string[],
): Promise<Dataset> {
  const dataset: Dataset = { rows: [], errors: [] };
  const add = (line: number, record: Record<string, unknown>) => {
    const row = toRow(line, record, mapping, labels);
    if ('error' in row) dataset.errors.push(row);
    else dataset.rows.push(row);
  };
  if (format === 'jsonl') {
    let line = 0;
    let pending = '';
    const consume = (text: string) => {
      line++;
      if (text.trim() === '') return;
      let record: unknown;
      try {
        record = JSON.parse(text);
      } catch (error) {
        dataset.errors.push({ line, error: `invalid JSON: ${(error as Error).message}` });
        return;
      }
      if (!record || typeof record !== 'object' || Array.isArray(record)) {
        dataset.errors.push({ line, error: 'a JSON line must be an object' });
        return;
      }
      add(line, record as Record<string, unknown>);
    };
    for await (const chunk of input) {
      const parts = (pending + chunk.toString()).split('\n');
      pending = parts.pop() ?? '';
      parts.forEach((part) => consume(part.replace(/\r$/, '')));
    }
    if (pending !== '') consume(pending);
    return dataset;
  }
  const parser = input.pipe(
    parse({
      columns: mapping.columns ?? true,
      bom: true,
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
      skip_records_with_error: true,
    }),
  );
  parser.on('skip', (error: Error & { lines?: number }) => {
    const line = error.lines ?? 0;
    // One broken record can raise several errors; it is one bad row.
    if (dataset.errors.at(-1)?.line === line) return;
    dataset.errors.push({ line, error: `malformed CSV: ${error.message}` });
  });
  for await (const { record, info } of parser as AsyncIterable<{
    record: Record<string, string>;
    info: { lines: number };
  }>) {
    add(info.lines, record);
  }
  dataset.errors.sort((a, b) => a.line - b.line);
  return dataset;
}

function toRow(
  line: number,
  record: Record<string, unknown>,
  mapping: ColumnMapping,
  labels: readonly string[],
): DatasetRow | RowError {
  const id = mapping.id ? String(record[mapping.id] ?? '') : String(line);
  const missing = mapping.text.filter(
    (column) => record[column] === undefined || record[column] === null,
  );
  if (missing.length) return { line, id, error: `missing text column(s): ${missing.join(', ')}` };
  const text = mapping.text
    .map((column) => String(record[column]))
    .join(' ')
    .trim();
  if (text === '') return { line, id, error: 'empty text' };
  const row: DatasetRow = { line, id, text };
  if (mapping.label) {
    const gold = goldIndex(record[mapping.label], labels, mapping.labelBase ?? 0);
    if (gold === undefined)
      return { line, id, error: `unknown label "${String(record[mapping.label])}"` };
    row.gold = gold;
  }
  if (mapping.passthrough?.length) {
    row.passthrough = Object.fromEntries(
      mapping.passthrough.map((c) => [c, String(record[c] ?? '')]),
    );
  }
  return row;
}

/** A gold value as a label index: a label name (any case), or an integer counted from `base`. */
export function goldIndex(
  value: unknown,
  labels: readonly string[],
  base: number,
): number | undefined {
  const text = String(value ?? '').trim();
  const byName = labels.findIndex((label) => label.toLowerCase() === text.toLowerCase());
  if (byName >= 0) return byName;
  if (/^-?\d+$/.test(text)) {
    const index = Number(text) - base;
    if (index >= 0 && index < labels.length) return index;
  }
  return undefined;
}
