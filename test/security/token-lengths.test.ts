import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MAX_TOKENS_READ, manifestSchema } from '../../libs/handler/src/manifest';
import { TextTokenizer } from '../../libs/handler/src/tokenizer';
import { ROOT } from '../support/paths';

const VOCAB = { vocabFile: join(ROOT, 'models', 'ag-news-bert', 'vocab.txt'), lowercase: true };
const PLAIN = { name: 'm', version: '1', labels: ['a', 'b'] };
/** A text of 300 word tokens, 302 with [CLS] and [SEP]. */
const LONG = 'word '.repeat(300);

/** Tokens the real tokenizer reads of LONG when asked for `maxLength` (and windows). */
async function tokensRead(maxLength: number, maxWindows?: number): Promise<number> {
  const windows = maxWindows ? { overlap: 0, maxWindows } : undefined;
  const [encoded] = await (await TextTokenizer.load(VOCAB, maxLength, windows)).encode([LONG]);
  return encoded.windows ? encoded.windows.length * maxLength : encoded.length;
}

/*
 * The tokenizer binding takes a 32-bit length: a manifest's max_length (times max_windows)
 * past it wrapped round, and a text was read to a few tokens while the manifest said billions.
 */
describe('a manifest never asks the tokenizer for more tokens than it can count', () => {
  it('refuses max_length, or max_length × windows.max_windows, past the bound, naming it', () => {
    for (const manifest of [
      { ...PLAIN, max_length: 2 ** 32 + 10 },
      { ...PLAIN, max_length: 2 ** 26, windows: { max_windows: 64 } },
    ]) {
      const parsed = manifestSchema.safeParse(manifest);
      assert.equal(parsed.success, false, JSON.stringify(manifest));
      assert.match(parsed.error.issues[0].message, /max_length .* is over the \d+ tokens/);
      assert.deepEqual(parsed.error.issues[0].path, ['max_length']);
    }
  });

  it('control: past the bound the tokenizer wraps round; at it, a text is read whole', async () => {
    assert.equal(await tokensRead(2 ** 32 + 10), 10);
    assert.equal(await tokensRead(MAX_TOKENS_READ + 1), 302);
    assert.ok(manifestSchema.safeParse({ ...PLAIN, max_length: MAX_TOKENS_READ }).success);
    const windowed = { ...PLAIN, max_length: 2 ** 25 - 1, windows: { max_windows: 64 } };
    assert.ok(manifestSchema.safeParse(windowed).success);
    assert.equal(await tokensRead(windowed.max_length * 64), 302);
  });
});
