/**
 * Tokenizes a JSONL dataset ({"text", "label"} per line) with the very tokenizer the serving
 * handler uses, so training and serving cannot disagree. Writes {"ids", "label"} per line,
 * and a reference file with the ids of a few fixed texts.
 *
 *   node dist/tools/tokenize-dataset.js <vocab.txt> <train.jsonl> <max_length> <out-dir> [--normalize]
 *
 * `--normalize` first writes the training texts as served texts are written: about half of the
 * AG News training rows come with spaced punctuation ("didn t", "world s", " , ", " .") while the
 * texts a model is asked about are plain news text ("didn't", "world's", ", ", ".").
 */
import { createReadStream, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { TextTokenizer } from '@app/handler';

/** Fixed texts whose logits are recorded at export time and checked by the tests. */
export const REFERENCE_TEXTS = [
  'Stocks rallied on Wall Street after the Federal Reserve held interest rates steady.',
  'The striker scored twice as the champions won the derby in the final minutes.',
  'Scientists unveiled a new chip that could make quantum computers practical.',
  'Rebels and government troops clashed near the capital as peace talks stalled.',
  'NASA delays launch',
];

/** A training text with its spaced punctuation closed up, as news text is written. */
export function normalizeSpacing(text: string): string {
  return text
    .replace(/\b([A-Za-z]+) (t|s|re|ve|ll|d|m)\b(?=[\s.,;:!?]|$)/g, "$1'$2")
    .replace(/ '(ll|s|re|ve|d|m)\b/g, "'$1")
    .replace(/ ([,.;:!?)])(?=\s|$)/g, '$1')
    .replace(/\( /g, '(');
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const normalize = args.includes('--normalize');
  const [vocab, input, maxLength, outDir] = args.filter((a) => a !== '--normalize');
  if (!outDir)
    throw new Error(
      'usage: tokenize-dataset <vocab.txt> <train.jsonl> <max_length> <out-dir> [--normalize]',
    );
  const tokenizer = await TextTokenizer.load(
    { vocabFile: vocab, lowercase: true },
    Number(maxLength),
  );
  const texts: string[] = [];
  const labels: number[] = [];
  for await (const line of createInterface({ input: createReadStream(input) })) {
    if (!line.trim()) continue;
    const row = JSON.parse(line) as { text: string; label: number };
    texts.push(normalize ? normalizeSpacing(row.text) : row.text);
    labels.push(row.label);
  }
  const encoded = await tokenizer.encode(texts);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(
    join(outDir, 'train-ids.jsonl'),
    encoded.map((e, i) => JSON.stringify({ ids: e.ids, label: labels[i] })).join('\n') + '\n',
  );
  const reference = await tokenizer.encode(REFERENCE_TEXTS);
  writeFileSync(
    join(outDir, 'reference-ids.json'),
    JSON.stringify({ texts: REFERENCE_TEXTS, ids: reference.map((e) => e.ids) }),
  );
  process.stdout.write(`tokenized ${texts.length} texts into ${outDir}\n`);
}

if (require.main === module) {
  main().catch((error) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}
