import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES } from './paths';

/** The first rows of the official AG News test split, as `test.csv` and `test.jsonl` have them. */
const AG_NEWS = join(FIXTURES, 'ag_news');

/** The first `count` lines of a fixture file, starting over at its top when it has fewer. */
function cycledLines(file: string, count: number): string[] {
  const lines = readFileSync(join(AG_NEWS, file), 'utf8').split('\n').filter(Boolean);
  return Array.from({ length: count }, (_, i) => lines[i % lines.length]);
}

/**
 * `count` lines of AG News `test.csv` (no header; class 1-4, title, description, all quoted),
 * newline-terminated. The fixture holds a few hundred rows; more are its rows again.
 */
export function agNewsCsv(count: number): string {
  return cycledLines('test.csv', count).join('\n') + '\n';
}

/** `count` lines of AG News `test.jsonl` (`{"text", "label" 0-3, "label_name"}`), repeated as needed. */
export function agNewsJsonl(count: number): string[] {
  return cycledLines('test.jsonl', count);
}

/** `count` AG News test texts (title + description). */
export function agNewsSample(count: number): string[] {
  return agNewsJsonl(count).map((line) => (JSON.parse(line) as { text: string }).text);
}
