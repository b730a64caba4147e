import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { manifestSchema } from './manifest';
import { cutWindows } from './tokenizer';

/** An encoding of `n` text tokens (ids 1..n) between a leading 100 and a trailing 200. */
function encoding(n: number) {
  const ids = [100, ...Array.from({ length: n }, (_, i) => i + 1), 200];
  return { ids, typeIds: ids.map(() => 0), mask: ids.map((id) => (id >= 100 ? 1 : 0)) };
}

describe('cutWindows', () => {
  it('keeps the specials around each window, overlaps consecutive windows and ends with the text', () => {
    const { ids, typeIds, mask } = encoding(20);
    const windows = cutWindows(ids, typeIds, mask, 10, { overlap: 3, maxWindows: 8 });
    // 8 text tokens a window, a step of 5: starts 1, 6, 11, then the last ends with token 20.
    assert.deepEqual(
      windows.map((w) => w.ids),
      [
        [100, 1, 2, 3, 4, 5, 6, 7, 8, 200],
        [100, 6, 7, 8, 9, 10, 11, 12, 13, 200],
        [100, 11, 12, 13, 14, 15, 16, 17, 18, 200],
        [100, 13, 14, 15, 16, 17, 18, 19, 20, 200],
      ],
    );
    for (const w of windows) {
      assert.equal(w.length, 10);
      assert.equal(w.typeIds?.length, 10);
    }
  });

  it('reads every text token when the windows suffice, and no more than max_windows', () => {
    const { ids, typeIds, mask } = encoding(40);
    const all = cutWindows(ids, typeIds, mask, 10, { overlap: 0, maxWindows: 8 });
    assert.deepEqual(
      [...new Set(all.flatMap((w) => w.ids.slice(1, -1)))].sort((a, b) => a - b),
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    const capped = cutWindows(ids, typeIds, mask, 10, { overlap: 0, maxWindows: 2 });
    assert.deepEqual(
      capped.map((w) => w.ids),
      [
        [100, 1, 2, 3, 4, 5, 6, 7, 8, 200],
        [100, 9, 10, 11, 12, 13, 14, 15, 16, 200],
      ],
    );
  });
});

describe('manifest windows', () => {
  const plain = { name: 'news', version: '1', model_file: 'model.onnx', vocab_file: 'vocab.txt' };

  it('is off unless set, and fills its defaults when set', () => {
    assert.equal(manifestSchema.parse(plain).windows, undefined);
    assert.deepEqual(manifestSchema.parse({ ...plain, windows: {} }).windows, {
      overlap: 32,
      max_windows: 8,
    });
  });

  it('rejects a negative overlap, a single window and a field it does not know', () => {
    for (const windows of [{ overlap: -1 }, { max_windows: 1 }, { stride: 8 }]) {
      assert.equal(
        manifestSchema.safeParse({ ...plain, windows }).success,
        false,
        JSON.stringify(windows),
      );
    }
  });
});
