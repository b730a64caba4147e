import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { TextTokenizer } from '../../libs/handler/src/tokenizer';
import { ROOT } from '../support/paths';
import { agNewsSample } from '../support/texts';

const VOCAB = { vocabFile: join(ROOT, 'models', 'ag-news-bert', 'vocab.txt'), lowercase: true };

/**
 * A lone text is encoded by a path of its own (the binding's `encode`, not `encodeBatch`): it
 * must give what the same text gets inside a group, with truncation and with windows.
 * Control: with `encode(texts[0], null, { addSpecialTokens: false })` in `TextTokenizer.encode`,
 * both tests fail (no [CLS]/[SEP], other lengths).
 */
describe('a text encoded alone', () => {
  const texts = [...agNewsSample(6), 'Ünïcode  ÀCCENTS and   spaces\tand tabs', 'word '.repeat(90)];

  it('gets the ids a group gives it, truncated at max_length', async () => {
    const tokenizer = await TextTokenizer.load(VOCAB, 32);
    const grouped = await tokenizer.encode(texts);
    for (const [i, text] of texts.entries()) {
      const [alone] = await tokenizer.encode([text]);
      assert.deepEqual(alone, grouped[i], `text ${i}`);
    }
    assert.ok(
      grouped.some((e) => e.length === 32),
      'a text was cut at max_length',
    );
  });

  it('gets the windows a group gives it', async () => {
    const tokenizer = await TextTokenizer.load(VOCAB, 24, { overlap: 4, maxWindows: 3 });
    const grouped = await tokenizer.encode(texts);
    for (const [i, text] of texts.entries()) {
      const [alone] = await tokenizer.encode([text]);
      assert.deepEqual(alone, grouped[i], `text ${i}`);
    }
    assert.ok(
      grouped.some((e) => (e.windows?.length ?? 0) > 1),
      'a text was read as windows',
    );
  });
});
