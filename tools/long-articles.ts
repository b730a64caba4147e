/**
 * A set of long news articles made from an AG News split, to measure a model on texts longer
 * than its window: the rows of each class are shuffled with a fixed seed and joined, in groups
 * of 4 to 8 rows of the same class, into one article of that class. Only articles longer than
 * `min_tokens` tokens (by the package's own tokenizer, specials included) are written, in the
 * split's own CSV columns (class, title, description), so `evaluate` reads them as it reads it.
 *
 *   node dist/tools/long-articles.js <test.csv> <out.csv> [package] [min_tokens] [seed]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { TextTokenizer } from '@app/handler';

/** A seeded generator of numbers in [0, 1) (mulberry32): the same seed, the same set. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Rows (class, title, description) joined into articles: each class's rows shuffled, then cut
 * into groups of `minRows` to `maxRows` rows; an article is the first row's title and the
 * groups' "title description" texts after it. A last group shorter than `minRows` is left out.
 */
export function joinArticles(
  rows: readonly string[][],
  seed: number,
  minRows = 4,
  maxRows = 8,
): string[][] {
  const random = seededRandom(seed);
  const byClass = new Map<string, string[][]>();
  for (const row of rows) byClass.set(row[0], [...(byClass.get(row[0]) ?? []), row]);
  const articles: string[][] = [];
  for (const label of [...byClass.keys()].sort()) {
    const pool = [...byClass.get(label)!];
    for (let i = pool.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [pool[i], pool[j]] = [pool[j], pool[i]];
    }
    for (let at = 0; ;) {
      const size = minRows + Math.floor(random() * (maxRows - minRows + 1));
      const group = pool.slice(at, at + size);
      if (group.length < minRows) break;
      at += size;
      const [first, ...rest] = group;
      const body = [first[2], ...rest.map(([, title, text]) => `${title} ${text}`)].join(' ');
      articles.push([label, first[1], body]);
    }
  }
  return articles;
}

async function main(): Promise<void> {
  const [input, output, location, minTokens = '128', seed = '27'] = process.argv.slice(2);
  if (!output)
    throw new Error('usage: long-articles <test.csv> <out.csv> [package] [min_tokens] [seed]');
  const dir = location ?? resolve(__dirname, '..', '..', 'models', 'ag-news-bert');
  const manifest = JSON.parse(readFileSync(join(dir, 'MANIFEST.json'), 'utf8')) as {
    vocab_file: string;
    do_lower_case?: boolean;
  };
  const rows: string[][] = parse(readFileSync(input), { relax_column_count: false });
  const articles = joinArticles(rows, Number(seed));
  const tokenizer = await TextTokenizer.load(
    { vocabFile: join(dir, manifest.vocab_file), lowercase: manifest.do_lower_case !== false },
    1 << 16,
  );
  const lengths = (await tokenizer.encode(articles.map(([, t, d]) => `${t} ${d}`))).map(
    (e) => e.length,
  );
  const kept = articles.filter((_, i) => lengths[i] > Number(minTokens));
  const keptLengths = lengths.filter((n) => n > Number(minTokens)).sort((a, b) => a - b);
  writeFileSync(output, stringify(kept, { quoted: true }));
  const median = keptLengths[Math.floor(keptLengths.length / 2)];
  process.stdout.write(
    `${kept.length} of ${articles.length} articles over ${minTokens} tokens ` +
      `(tokens: min ${keptLengths[0]}, median ${median}, max ${keptLengths.at(-1)})\n`,
  );
}

if (require.main === module) {
  main().catch((error) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
