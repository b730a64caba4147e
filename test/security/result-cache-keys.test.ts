import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Tokenizer } from 'tokenizers';
import { openModel, type Handler } from '@app/handler';
import { demoPackageWithTokenizerJson } from '../support/packages';
import { Stack } from '../support/stack';

const MODEL = 'ag-news-bert';
/** A plain added token of the package (a vocabulary entry matched on the raw text). */
const ADDED = '[unused1]';
/**
 * Pairs of texts that the tokenizer's normalizer leaves alike (lowercased) but that tokenize
 * differently, since added tokens are matched before normalization and case-sensitively: a
 * special token, and a plain added token. The demo model labels each pair's texts differently
 * (checked as the precondition of each test: a new model may need new pairs).
 */
const PAIRS = [
  ['[SEP] poll', '[sep] poll'],
  ['[unused1] poll', '[UNUSED1] poll'],
];
/** Texts that tokenize alike (the vocabulary is uncased): one cache entry serves both. */
const ALIKE = ['Oil prices VOTE', 'oil prices vote'];

describe('the result cache keys on what the model is given, not on a lossy view of the text', () => {
  let dir: string;
  let handler: Handler<unknown>;
  let release: () => Promise<void>;

  before(async () => {
    dir = await demoPackageWithTokenizerJson('1', [ADDED]);
    const opened = await openModel(dir, { warmup: false, intraOpNumThreads: 1 });
    handler = opened.handler;
    release = async () => {
      await handler.dispose();
      await opened.pkg.release();
    };
  });
  after(async () => {
    await release?.();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('gives texts normalized alike but tokenized apart keys of their own', async () => {
    const normalizer = Tokenizer.fromFile(join(dir, 'tokenizer.json')).getNormalizer()!;
    for (const [first, second] of PAIRS) {
      assert.equal(
        normalizer.normalizeString(first),
        normalizer.normalizeString(second),
        'the precondition: the normalized texts are one (the key that mixed them up)',
      );
      const [a, b] = await handler.cacheKeys!([first, second]);
      assert.notEqual(a, b, `${first} / ${second}`);
    }
  });

  it('control: texts that tokenize alike share a key', async () => {
    const [a, b] = await handler.cacheKeys!(ALIKE);
    assert.equal(a, b);
  });
});

describe('a cached version answers each text as the model does (a tokenizer.json with added tokens)', () => {
  let stack: Stack;
  let store: string;

  before(async () => {
    // hf-v1 without the cache (the reference), hf-v2 with it: the same files.
    store = mkdtempSync(join(tmpdir(), 'modelfleet-store-'));
    for (const version of ['1', '2']) {
      renameSync(
        await demoPackageWithTokenizerJson(version, [ADDED]),
        join(store, `hf-v${version}`),
      );
    }
    stack = await Stack.start({
      modelStore: store,
      env: { MODELS: 'hf-v1' },
      workerEnv: { WORKER_MAX_VERSIONS: '2' },
    });
    const registered = await stack.manage('POST', '/models?url=hf-v2&cache_ttl_s=600');
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    await stack.versionServed(MODEL, '2');
  });
  after(async () => {
    await stack?.stop();
    if (store) rmSync(store, { recursive: true, force: true });
  });

  /** One text's answer from a version, with its provenance. */
  async function ask(version: string, text: string) {
    const answer = await stack.request('POST', `/predictions/${MODEL}/${version}?provenance=true`, {
      data: [text],
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return answer.body[0] as { label_name: string; probability: number; provenance: any }; // eslint-disable-line @typescript-eslint/no-explicit-any
  }

  for (const [first, second] of PAIRS) {
    it(`answers "${second}" from its own forward pass after "${first}" was cached`, async () => {
      const [truthFirst, truthSecond] = [await ask('1', first), await ask('1', second)];
      assert.notEqual(
        truthFirst.label_name,
        truthSecond.label_name,
        'the precondition: the model labels the two texts differently',
      );
      const cachedFirst = await ask('2', first);
      assert.equal(cachedFirst.provenance.cached, false);
      assert.equal(cachedFirst.label_name, truthFirst.label_name);

      const answer = await ask('2', second);
      assert.equal(answer.provenance.cached, false, 'not the other text’s entry');
      assert.equal(answer.label_name, truthSecond.label_name);
      assert.ok(Math.abs(answer.probability - truthSecond.probability) < 1e-4);

      // The control: the same text again is a hit, with the answer it had.
      const again = await ask('2', first);
      assert.equal(again.provenance.cached, true);
      assert.equal(again.label_name, cachedFirst.label_name);
      assert.equal(again.probability, cachedFirst.probability);
    });
  }

  it('control: a text that tokenizes as a cached one is answered from the cache', async () => {
    const first = await ask('2', ALIKE[0]);
    assert.equal(first.provenance.cached, false);
    const second = await ask('2', ALIKE[1]);
    assert.equal(second.provenance.cached, true);
    assert.equal(second.label_name, first.label_name);
  });
});
