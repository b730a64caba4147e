import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { agNewsSample } from '../test/support/texts';

export { DEMO_MODEL } from '../test/support/paths';

/**
 * A file of the benchmark data folder named by `BENCH_DATA` (it holds `ag_news/test.jsonl`, the
 * official AG News test split as JSONL, and `bert-base-uncased-vocab.txt`). The tests never read
 * it: they use the sample under test/fixtures.
 */
export function benchDataFile(...parts: string[]): string {
  const folder = process.env.BENCH_DATA;
  if (!folder)
    throw new Error(
      'set BENCH_DATA to the folder holding ag_news/test.jsonl and bert-base-uncased-vocab.txt',
    );
  const file = join(resolve(folder), ...parts);
  if (!existsSync(file)) throw new Error(`BENCH_DATA has no ${join(...parts)} (${file})`);
  return file;
}

export interface LabelledText {
  text: string;
  label: number;
}

/** AG News test rows (title + description, label 0-3), optionally only the first `limit`. */
export function agNewsTest(limit = Infinity): LabelledText[] {
  return readFileSync(benchDataFile('ag_news', 'test.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .slice(0, limit)
    .map((line) => JSON.parse(line) as LabelledText);
}

/**
 * `count` texts: the AG News test split of `BENCH_DATA`, or without it the sample under
 * test/fixtures (so that a plain clone runs), repeated as often as it takes.
 */
export function benchTexts(count: number): string[] {
  if (!process.env.BENCH_DATA) return agNewsSample(count);
  const rows = agNewsTest().map((row) => row.text);
  return Array.from({ length: count }, (_, i) => rows[i % rows.length]);
}

/** Percentile (0-100) of an unsorted sample, nearest-rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** A figure with `digits` decimals; `—` for one not measured (NaN). */
export const fmt = (n: number, digits = 1) => (Number.isNaN(n) ? '—' : n.toFixed(digits));
