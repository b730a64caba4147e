import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import {
  classifyTexts,
  openModel,
  ScoringRun,
  type Handler,
  type ModelPackage,
  type Prediction,
} from '@app/handler';
import { DEMO_MODEL } from '../support/paths';
import { runBatch } from '../support/run-batch';

interface Reference {
  texts: string[];
  logits: number[][];
}

describe('text-classification handler on the demo model', () => {
  let handler: Handler<Prediction>;
  let pkg: ModelPackage;
  const reference: Reference = JSON.parse(readFileSync(`${DEMO_MODEL}/reference.json`, 'utf8'));

  before(async () => {
    const opened = await openModel(DEMO_MODEL, { device: 'cpu' });
    handler = opened.handler as Handler<Prediction>;
    pkg = opened.pkg;
  });
  after(() => handler.dispose());

  it('reproduces the logits recorded at export time within 1e-4, alone and padded in one batch', async () => {
    const encoded = await handler.preprocess(reference.texts);
    const together = await handler.inference(encoded);
    for (const [i, text] of reference.texts.entries()) {
      const alone = await handler.inference(await handler.preprocess([text]));
      for (let k = 0; k < alone.width; k++) {
        assert.ok(
          Math.abs(alone.data[k] - reference.logits[i][k]) < 1e-4,
          `text ${i} logit ${k} alone`,
        );
        const padded = together.data[i * together.width + k];
        assert.ok(
          Math.abs(padded - reference.logits[i][k]) < 1e-4,
          `text ${i} logit ${k} in batch`,
        );
      }
    }
  });

  it('answers label, label name and probability per text, and the full vector when asked', async () => {
    const { results } = await runBatch(
      handler,
      ['Yankees beat the Red Sox 5-3.', 'Oil prices rise'],
      {
        probabilities: true,
      },
    );
    assert.equal(results.length, 2);
    for (const result of results) {
      assert.equal(result.label_name, pkg.labels[result.label]);
      assert.equal(result.probabilities?.length, 4);
      const sum = result.probabilities.reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - 1) < 1e-5);
      assert.equal(result.probability, Math.max(...result.probabilities));
    }
    assert.equal(results[0].label_name, 'Sports');
  });

  it('truncates texts to max_length tokens', async () => {
    const [encoded] = await handler.preprocess([' word'.repeat(1000)]);
    assert.equal(encoded.length, pkg.manifest.max_length);
  });

  it('rejects an empty text and a non-string item with an input error', async () => {
    await assert.rejects(handler.preprocess(['fine', '  ']), {
      name: 'HandlerInputError',
      message: /item 1/,
    });
    await assert.rejects(handler.preprocess([42 as unknown as string]), {
      name: 'HandlerInputError',
    });
  });

  it('gives the same answers packed by token budget as one text at a time, in input order', async () => {
    const texts = reference.texts.concat(reference.texts.map((t) => `${t} ${t}`));
    const packed = await classifyTexts(handler, texts, { maxBatchTokens: 64, maxBatchSize: 3 });
    assert.ok(packed.batches.length > 1);
    for (const [i, text] of texts.entries()) {
      const { results } = await runBatch(handler, [text]);
      assert.equal(packed.results[i].label, results[0].label);
      assert.ok(Math.abs(packed.results[i].probability - results[0].probability) < 1e-5);
    }
  });

  it('scores every text once, in input order, when the limits change between passes', async () => {
    const texts = reference.texts.concat(reference.texts.map((t) => `${t} ${t}`));
    const whole = await classifyTexts(handler, texts, { maxBatchTokens: 4096, maxBatchSize: 64 });
    const run = await ScoringRun.start(handler, texts);
    // A pass overhead larger than any padding makes one pass the cheapest packing.
    const first = await run.runPass({
      maxBatchTokens: 4096,
      maxBatchSize: 64,
      passOverheadTokens: 10_000,
    });
    assert.equal(first.size, texts.length, 'under the first limits, one pass holds every text');
    const cut = await ScoringRun.start(handler, texts);
    await cut.runPass({ maxBatchTokens: 4096, maxBatchSize: 2, passOverheadTokens: 10_000 });
    assert.equal(cut.remaining, texts.length - 2);
    while (!cut.done) await cut.runPass({ maxBatchTokens: 0, maxBatchSize: 64 });
    const { batches, results, batchOf } = cut.outcome;
    assert.deepEqual(
      batches.map((b) => b.size),
      [2, ...Array<number>(texts.length - 2).fill(1)],
      'a token budget of 0 leaves one text per pass',
    );
    assert.equal(new Set(batchOf).size, batches.length);
    for (const [i, result] of results.entries()) {
      assert.equal(result.label, whole.results[i].label);
      assert.ok(Math.abs(result.probability - whole.results[i].probability) < 1e-5);
    }
  });
});
