/**
 * Tokenizes a JSONL dataset ({"text", "label"} per line) with the very tokenizer the serving
 * handler uses, so training and serving cannot disagree. Writes {"ids", "label"} per line,
 * and a reference file with the ids of a few fixed texts.
 *
 *   node dist/tools/tokenize-dataset.js <vocab.txt> <train.jsonl> <max_length> <out-dir>
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

async function main(): Promise<void> {
  const [vocab, input, maxLength, outDir] = process.argv.slice(2);
  if (!outDir)
    throw new Error('usage: tokenize-dataset <vocab.txt> <train.jsonl> <max_length> <out-dir>');
  const tokenizer = await TextTokenizer.load(
    { vocabFile: vocab, lowercase: true },
    Number(maxLength),
  );
  const texts: string[] = [];
  const labels: number[] = [];
  for await (const line of createInterface({ input: createReadStream(input) })) {
    if (!line.trim()) continue;
    const row = JSON.parse(line) as { text: string; label: number };
    texts.push(row.text);
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

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
