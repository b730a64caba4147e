import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MANIFEST_FILE, TextTokenizer } from '@app/handler';
import { DEMO_MODEL } from './paths';

/**
 * Copies the demo package into a fresh temporary folder, applies `edit` to its manifest
 * and returns the folder, for tests that need a package slightly (or badly) different.
 */
export function demoPackageCopy(
  edit: (manifest: Record<string, unknown>) => void = () => {},
): string {
  const dir = mkdtempSync(join(tmpdir(), 'modelfleet-pkg-'));
  cpSync(DEMO_MODEL, dir, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8'));
  edit(manifest);
  writeFileSync(join(dir, MANIFEST_FILE), JSON.stringify(manifest));
  return dir;
}

/** The special tokens of BERT's vocabulary, as Hugging Face's `tokenizer.json` lists them. */
const BERT_SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];

/**
 * A copy of the demo package (as {@link demoPackageCopy}, `version` in its manifest) that reads
 * a `tokenizer.json` instead of `vocab.txt`, in the layout Hugging Face writes for BERT: the
 * tokenizers library writes it from the demo's vocabulary (same normalizer, same ids), and its
 * added tokens are matched on the raw text (`normalized: false`): BERT's special tokens, and
 * `addedTokens` (vocabulary entries) as plain added tokens.
 */
export async function demoPackageWithTokenizerJson(
  version: string,
  addedTokens: string[] = [],
): Promise<string> {
  const dir = demoPackageCopy((manifest) => {
    delete manifest.vocab_file;
    manifest.tokenizer_file = 'tokenizer.json';
    manifest.version = version;
  });
  const file = join(dir, 'tokenizer.json');
  const vocab = join(dir, 'vocab.txt');
  (await TextTokenizer.load({ vocabFile: vocab, lowercase: true }, 128)).save(file);
  rmSync(vocab);
  const json = JSON.parse(readFileSync(file, 'utf8'));
  const added = (content: string, special: boolean) => ({
    id: json.model.vocab[content] as number,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special,
  });
  json.added_tokens = [
    ...BERT_SPECIAL_TOKENS.map((token) => added(token, true)),
    ...addedTokens.map((token) => added(token, false)),
  ];
  writeFileSync(file, JSON.stringify(json));
  return dir;
}
