import { readFileSync } from 'node:fs';
import { sharedFile } from './paths';

const FALLBACK = [
  'The Yankees beat the Red Sox 5-3 on a walk-off homer in the ninth inning.',
  'Oil prices jumped after OPEC agreed to cut output for the rest of the year.',
  'Microsoft releases a security patch for Windows after a worm spreads.',
  'Peace talks resume in the Middle East as leaders meet in Cairo.',
];

/** The first `count` AG News test texts when the data folder is there, else fixed news lines. */
export function agNewsSample(count: number): string[] {
  const file = sharedFile('ag_news', 'test.jsonl');
  const texts = file
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .slice(0, count)
        .map((line) => (JSON.parse(line) as { text: string }).text)
    : [];
  while (texts.length < count) texts.push(FALLBACK[texts.length % FALLBACK.length]);
  return texts;
}
