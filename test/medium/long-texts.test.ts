import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { classifyTexts, openModel, softmax, type Handler, type Prediction } from '@app/handler';
import { demoPackageCopy } from '../support/packages';
import { FIXTURES } from '../support/paths';

/** A business news article of about 490 tokens: four times the demo model's window. */
const ARTICLE = readFileSync(join(FIXTURES, 'long-article', 'article.txt'), 'utf8');
const SHORT = ['Oil prices rise as supply worries grow', 'Yankees beat the Red Sox 5-3.'];

describe('long texts read as overlapping windows (manifest windows)', () => {
  let windowed: Handler<Prediction>;
  let truncating: Handler<Prediction>;
  const dirs: string[] = [];

  before(async () => {
    dirs.push(demoPackageCopy((m) => (m.windows = { overlap: 32, max_windows: 8 })));
    dirs.push(demoPackageCopy((m) => delete m.windows));
    windowed = (await openModel(dirs[0], { device: 'cpu' })).handler as Handler<Prediction>;
    truncating = (await openModel(dirs[1], { device: 'cpu' })).handler as Handler<Prediction>;
  });
  after(async () => {
    await windowed?.dispose();
    await truncating?.dispose();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('cuts the article into full windows of max_length that overlap and cover it', async () => {
    const [whole] = await windowed.preprocess([ARTICLE]);
    const [cut] = await truncating.preprocess([ARTICLE]);
    const windows = whole.windows!;
    assert.equal(windows.length, 5);
    assert.deepEqual(whole.ids, cut.ids, 'the first window is the truncated text');
    for (const w of windows) {
      assert.equal(w.length, 128);
      assert.equal(w.ids[0], cut.ids[0]);
      assert.equal(w.ids[127], cut.ids[127]);
    }
    // Consecutive windows share at least the overlap: the next starts 94 text tokens later.
    assert.deepEqual(windows[1].ids.slice(1, 33), windows[0].ids.slice(95, 127));
    const [short] = await windowed.preprocess([SHORT[0]]);
    assert.equal(short.windows, undefined, 'a text within the window is one row');
  });

  it('answers the softmax of the mean of its windows logits; the control truncates', async () => {
    const [whole] = await windowed.preprocess([ARTICLE]);
    const alone = await windowed.inference(whole.windows!);
    const mean = Array.from({ length: alone.width }, (_, c) => {
      let sum = 0;
      for (let r = 0; r < alone.rows; r++) sum += alone.data[r * alone.width + c];
      return sum / alone.rows;
    });
    const expected = softmax(mean);
    const first = softmax(alone.data.slice(0, alone.width));
    const { results } = await classifyTexts(windowed, [ARTICLE], {
      maxBatchTokens: 8192,
      maxBatchSize: 64,
    });
    const off = await classifyTexts(truncating, [ARTICLE], {
      maxBatchTokens: 8192,
      maxBatchSize: 64,
    });
    const on = await classifyTexts(
      windowed,
      [ARTICLE],
      { maxBatchTokens: 8192, maxBatchSize: 64 },
      {
        probabilities: true,
      },
    );
    assert.equal(results[0].label, expected.indexOf(Math.max(...expected)));
    on.results[0].probabilities!.forEach((p, c) => assert.ok(Math.abs(p - expected[c]) < 1e-5));
    // Control: without windows the answer is the first window's alone, which differs.
    assert.ok(Math.abs(off.results[0].probability - Math.max(...first)) < 1e-5);
    assert.ok(
      Math.abs(off.results[0].probability - on.results[0].probability) > 1e-4,
      'the windows change the answer',
    );
  });

  it('packs the windows like other texts, records every pass of a long text, leaves short ones as they were', async () => {
    const texts = [SHORT[0], ARTICLE, SHORT[1]];
    const limits = { maxBatchTokens: 8192, maxBatchSize: 64 };
    const together = await classifyTexts(windowed, texts, limits);
    assert.deepEqual(
      together.batches.reduce((n, b) => n + b.size, 0),
      7,
      'five windows and two texts',
    );
    // Two rows a pass: the article's windows are spread over passes, all of them recorded.
    const split = await classifyTexts(windowed, texts, { maxBatchTokens: 8192, maxBatchSize: 2 });
    assert.ok(split.batches.length >= 4);
    assert.equal(
      split.batches.reduce((n, b) => n + b.size, 0),
      7,
    );
    const passes = split.windowPasses![1];
    assert.ok(passes.length >= 3, `passes ${passes.join(',')}`);
    assert.equal(passes[passes.length - 1], split.batchOf[1]);
    assert.deepEqual(Object.keys(split.windowPasses!), ['1']);
    const plain = await classifyTexts(truncating, SHORT, limits);
    for (const [i, result] of split.results.entries()) {
      assert.equal(result.label, together.results[i].label);
      assert.ok(Math.abs(result.probability - together.results[i].probability) < 1e-5);
    }
    assert.equal(split.results[0].probability, plain.results[0].probability);
    assert.equal(split.results[2].probability, plain.results[1].probability);
    assert.equal(plain.windowPasses, undefined);
  });

  it('keys the result cache on every window: texts that differ past the first differ', async () => {
    const [a, b] = [ARTICLE, ARTICLE.replace('21,000 employees', '12,000 employees')];
    const on = await windowed.cacheKeys!([a, b]);
    const off = await truncating.cacheKeys!([a, b]);
    assert.notEqual(on[0], on[1]);
    assert.equal(off[0], off[1], 'control: truncated, the two texts are the same input');
  });

  it('refuses an overlap as long as the window', async () => {
    const dir = demoPackageCopy((m) => (m.windows = { overlap: 126 }));
    dirs.push(dir);
    await assert.rejects(openModel(dir, { device: 'cpu' }), {
      name: 'ModelPackageError',
      message: /windows\.overlap \(126\) must be less than the 126 text tokens/,
    });
  });
});
