import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { finish, modelFixtures, runImport, type MadeFixtures } from '../support/model-import';
import { pythonToolsSkipped } from '../support/python-tools';
import { Stack } from '../support/stack';

const skip = pythonToolsSkipped(['torch', 'transformers', 'safetensors', 'onnxruntime', 'yaml']);

const LABELS = ['World', 'Sports', 'Business', 'Sci/Tech'];
/** The last text runs past 512 tokens: TorchServe's handler truncated it, and so must the fleet. */
const TEXTS = [
  'Stocks fell as oil prices rose',
  'The team won the cup final in extra time',
  'NASA launches a new probe to study Mars',
  'Rebels clashed with troops near the capital',
  'Apple unveils a new phone',
  'A very long dispatch about the world economy and its many troubles. '.repeat(80).trim(),
];

interface Expected {
  labels: string[];
  results: { label: number; probabilities: number[]; tokens: number }[];
}

interface Answer {
  label: number;
  label_name: string;
  probability: number;
  probabilities: number[];
}

describe(
  'modelfleet import: a TorchServe .mar and a checkpoint folder, served by the fleet',
  { skip },
  () => {
    let made: MadeFixtures | undefined;
    let dir: string;
    let fixtures: string;
    let store: string;
    let expected: Expected;
    let stack: Stack | undefined;

    before(async () => {
      made = await modelFixtures(TEXTS);
      ({ dir, fixtures } = made);
      store = join(dir, 'store');
      mkdirSync(store);
      expected = JSON.parse(readFileSync(join(fixtures, 'expected.json'), 'utf8'));
    });
    after(async () => {
      await stack?.stop();
      made?.remove();
    });

    it('the fixture is a real test: transformers gives several labels and truncates the long text', () => {
      assert.ok(new Set(expected.results.map((r) => r.label)).size > 1, JSON.stringify(expected));
      assert.equal(expected.results.at(-1)?.tokens, 512);
    });

    it('imports the .mar: name and version from its manifest, its handler not run, max_length 512', async () => {
      const out = join(store, 'bert_news_classification');
      const run = await runImport(join(fixtures, 'bert_news_classification.mar'), [
        '--out',
        out,
        '--num-attention-heads',
        '4',
        '--labels',
        LABELS.join(','),
      ]);
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout.trim(), out);
      assert.match(run.stderr, /not run: model_handler\.py/);
      assert.match(run.stderr, /onnxruntime vs torch .* max \|logit diff\|/);
      assert.match(run.stderr, /onnxruntime-node reproduces reference\.json's logits/);
      const manifest = JSON.parse(readFileSync(join(out, 'MANIFEST.json'), 'utf8'));
      assert.equal(manifest.name, 'bert_news_classification');
      assert.equal(manifest.version, '1.0');
      assert.equal(manifest.max_length, 512);
      assert.equal(manifest.vocab_file, 'vocab.txt');
      assert.ok(manifest.batching.max_batch_tokens >= 512);
      assert.deepEqual(readdirSync(out).sort(), [
        'MANIFEST.json',
        'config.json',
        'model.onnx',
        'reference.json',
        'vocab.txt',
      ]);
    });

    it('imports a Hugging Face checkpoint folder (config.json, model.safetensors, tokenizer.json)', async () => {
      const out = join(store, 'news-checkpoint');
      const run = await runImport(join(fixtures, 'checkpoint'), [
        '--out',
        out,
        '--name',
        'news-checkpoint',
      ]);
      assert.equal(run.status, 0, run.stderr);
      const manifest = JSON.parse(readFileSync(join(out, 'MANIFEST.json'), 'utf8'));
      assert.equal(manifest.name, 'news-checkpoint');
      assert.equal(manifest.version, '1');
      assert.equal(manifest.tokenizer_file, 'tokenizer.json');
      assert.equal(manifest.max_length, 512);
      const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
      assert.deepEqual(Object.values(config.id2label), LABELS);
    });

    it("serves both: curl -T request.json answers transformers' labels and probabilities (1e-4)", async () => {
      assert.ok(existsSync(join(store, 'news-checkpoint', 'MANIFEST.json')), 'imported above');
      stack = await Stack.start({ modelStore: store, env: { MODELS: 'bert_news_classification' } });
      const registered = await stack.manage('POST', '/models?url=news-checkpoint');
      assert.equal(registered.status, 201, JSON.stringify(registered.body));
      await stack.versionServed('news-checkpoint', '1');
      writeFileSync(join(dir, 'request.json'), JSON.stringify({ data: TEXTS }));
      for (const model of ['bert_news_classification', 'news-checkpoint']) {
        const url = `${stack.apiUrl}/predictions/${model}?probabilities=true`;
        const curl = await finish('curl', [
          '-s',
          '-X',
          'POST',
          '-H',
          'Accept: application/json',
          '-T',
          join(dir, 'request.json'),
          url,
        ]);
        assert.equal(curl.status, 0, curl.stderr);
        const answers = JSON.parse(curl.stdout) as Answer[];
        assert.equal(answers.length, TEXTS.length, curl.stdout);
        answers.forEach((answer, i) => {
          const want = expected.results[i];
          assert.equal(answer.label, want.label, `${model} text ${i}`);
          assert.equal(answer.label_name, LABELS[want.label]);
          assert.ok(
            Math.abs(answer.probability - want.probabilities[want.label]) < 1e-4,
            `${model} text ${i}`,
          );
          answer.probabilities.forEach((p, k) =>
            assert.ok(
              Math.abs(p - want.probabilities[k]) < 1e-4,
              `${model} text ${i} class ${k}: ${p}`,
            ),
          );
        });
      }
    });
  },
);
