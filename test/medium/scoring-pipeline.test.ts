import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  ENCODING_THREAD_MIN_TEXTS,
  FIRST_SLICE_TEXTS,
  classifyTexts,
  openModel,
  ScoringRun,
  TextTokenizer,
  tokenizeSlices,
  type Handler,
  type ModelPackage,
  type Prediction,
} from '@app/handler';
import { DEMO_MODEL } from '../support/paths';
import { agNewsSample } from '../support/texts';

describe('the pipelined scoring run (demo model)', () => {
  let handler: Handler<Prediction>;
  let pkg: ModelPackage;
  // More texts than the first slice: the run starts before the rest is tokenized.
  const texts = agNewsSample(FIRST_SLICE_TEXTS + 700);
  const limits = { maxBatchTokens: 4096, maxBatchSize: 64 };

  before(async () => {
    const opened = await openModel(DEMO_MODEL, { device: 'cpu' });
    handler = opened.handler as Handler<Prediction>;
    pkg = opened.pkg;
  });
  after(() => handler.dispose());

  it('tokenizes in slices that cover every text once, the first one small', () => {
    const slices = tokenizeSlices(texts.length);
    assert.ok(slices.length > 1);
    assert.equal(slices[0].to, FIRST_SLICE_TEXTS);
    slices.forEach((slice, k) => assert.equal(slice.from, k === 0 ? 0 : slices[k - 1].to));
    assert.equal(slices.at(-1)!.to, texts.length);
  });

  it('encodes a large group in its encoding thread as the tokenizer does in the caller', async () => {
    const group = texts.slice(0, ENCODING_THREAD_MIN_TEXTS);
    const tokenizer = await TextTokenizer.load(
      { vocabFile: `${DEMO_MODEL}/vocab.txt`, lowercase: pkg.manifest.do_lower_case },
      pkg.manifest.max_length,
    );
    const here = await tokenizer.encode(group);
    const there = await handler.preprocess(group);
    assert.deepEqual(
      there.map((e) => [e.length, ...e.ids]),
      here.map((e) => [e.length, ...e.ids]),
    );
    // Single texts: every type id 0, which the thread sends as none.
    assert.ok(there.every((e) => (e.typeIds ?? []).every((t) => t === 0)));
  });

  it('lets a process that never disposes of its handler exit, once its texts are encoded', () => {
    // Nothing but the encoding thread's request keeps the child's event loop alive while it
    // encodes; an idle encoding thread must not hold the process.
    const handlerLib = join(__dirname, '../../libs/handler/src/index.js');
    const script = `
      const { openModel } = require(${JSON.stringify(handlerLib)});
      openModel(${JSON.stringify(DEMO_MODEL)}, { device: 'cpu', warmup: false }).then(({ handler }) => {
        const texts = Array.from({ length: ${ENCODING_THREAD_MIN_TEXTS} }, (_, i) => 'text ' + i);
        handler.preprocess(texts).then((e) => console.log('encoded', e.length));
      });`;
    // The timeout only stops a child that hangs, so the test fails instead of waiting forever.
    const child = spawnSync(process.execPath, ['-e', script], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(child.status, 0, `${child.signal ?? ''} ${child.stderr}`);
    assert.equal(child.stdout.trim(), `encoded ${ENCODING_THREAD_MIN_TEXTS}`);
  });

  it('answers every text in input order, as one slice scored at once does', async () => {
    const sliced = await classifyTexts(handler, texts, limits, { rowScores: true });
    const whole = await classifyTexts(handler, texts.slice(0, FIRST_SLICE_TEXTS), limits);
    assert.equal(sliced.scores!.label.length, texts.length);
    assert.equal(new Set(sliced.batchOf).size, sliced.batches.length);
    // Every row ran once: a text longer than the window (the demo reads it whole) is a row a window.
    const rows = (await handler.preprocess(texts)).reduce(
      (n, e) => n + (e.windows?.length ?? 1),
      0,
    );
    assert.ok(rows > texts.length, 'the sample holds texts longer than the window');
    assert.equal(
      sliced.batches.reduce((n, b) => n + b.size, 0),
      rows,
    );
    whole.results.forEach((result, i) => {
      assert.equal(sliced.scores!.label[i], result.label, `text ${i}`);
      assert.ok(Math.abs(sliced.scores!.probability[i] - result.probability) < 1e-5);
    });
    // The texts of the later slices are the sample's again: the same answers.
    for (let i = FIRST_SLICE_TEXTS; i < texts.length; i++) {
      const same = texts.indexOf(texts[i]);
      assert.equal(sliced.scores!.label[i], sliced.scores!.label[same], `text ${i}`);
    }
  });

  it('fails on a bad text of a later slice, naming it by its index in the whole run', async () => {
    const bad = [...texts];
    bad[FIRST_SLICE_TEXTS + 5] = '   ';
    const run = await ScoringRun.start(handler, bad);
    await assert.rejects(
      (async () => {
        while (!run.done) await run.runPass(limits);
      })(),
      { name: 'HandlerInputError', message: `item ${FIRST_SLICE_TEXTS + 5} is an empty text` },
    );
  });
});
