import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SHARED_DATA } from '../test/support/paths';

export { DEMO_MODEL, SHARED_DATA } from '../test/support/paths';

export interface LabelledText {
  text: string;
  label: number;
}

/** AG News test rows (title + description, label 0-3), optionally only the first `limit`. */
export function agNewsTest(limit = Infinity): LabelledText[] {
  const file = join(SHARED_DATA, 'ag_news', 'test.jsonl');
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .slice(0, limit)
    .map((line) => JSON.parse(line) as LabelledText);
}

/** Percentile (0-100) of an unsorted sample, nearest-rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export const fmt = (n: number, digits = 1) => n.toFixed(digits);
