import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BERT_VOCAB, modelFixtures, runImport, type MadeFixtures } from '../support/model-import';
import { pythonToolsSkipped } from '../support/python-tools';

const skip = pythonToolsSkipped(['torch', 'transformers', 'safetensors', 'onnxruntime', 'yaml']);

const LABELS = ['World', 'Sports', 'Business', 'Sci/Tech'];

interface Reference {
  texts: string[];
  ids: number[][];
  logits: number[][];
}

describe("modelfleet import: the archiver's other forms, and a bare state_dict", { skip }, () => {
  let made: MadeFixtures | undefined;
  let dir: string;
  let fixtures: string;

  /** The manifest, config and reference of an imported package. */
  function readPackage(out: string) {
    const read = (file: string): unknown => JSON.parse(readFileSync(join(out, file), 'utf8'));
    return {
      manifest: read('MANIFEST.json') as {
        name: string;
        version: string;
        max_length: number;
        truncation: boolean;
      },
      config: read('config.json') as { id2label: Record<string, string> },
      reference: read('reference.json') as Reference,
    };
  }

  before(async () => {
    made = await modelFixtures(['A short text']);
    ({ dir, fixtures } = made);
  });
  after(() => made?.remove());

  it("reads the tgz form's labels from index_to_name.json and max_length from its configFile YAML", async () => {
    const out = join(dir, 'tgz');
    const tgz = join(fixtures, 'tgz', 'bert_news_classification.tar.gz');
    const run = await runImport(tgz, ['--out', out, '--num-attention-heads', '4']);
    assert.equal(run.status, 0, run.stderr);
    const { manifest, config, reference } = readPackage(out);
    assert.equal(manifest.name, 'bert_news_classification');
    assert.equal(manifest.version, '1.0');
    assert.equal(manifest.max_length, 128);
    assert.deepEqual(Object.values(config.id2label), LABELS);
    // The longest reference text is cut to the package's window, as the Node handler cuts it.
    assert.equal(Math.max(...reference.ids.map((ids) => ids.length)), 128);
  });

  it('imports the no-archive form and a bare state_dict with flags to the same model (no truncation)', async () => {
    const flat = join(dir, 'no-archive');
    const bare = join(dir, 'bare');
    const common = [
      '--num-attention-heads',
      '4',
      '--labels',
      LABELS.join(','),
      '--max-length',
      '256',
      '--no-truncation',
    ];
    const [fromFolder, fromFile] = await Promise.all([
      runImport(join(fixtures, 'no-archive', 'bert_news_classification'), [
        '--out',
        flat,
        ...common,
      ]),
      runImport(join(fixtures, 'bert_news_classification_model.pth'), [
        '--out',
        bare,
        '--vocab',
        BERT_VOCAB,
        '--name',
        'news',
        '--version',
        '3',
        ...common,
      ]),
    ]);
    assert.equal(fromFolder.status, 0, fromFolder.stderr);
    assert.equal(fromFile.status, 0, fromFile.stderr);
    const a = readPackage(flat);
    const b = readPackage(bare);
    assert.equal(a.manifest.name, 'bert_news_classification');
    assert.deepEqual(
      [b.manifest.name, b.manifest.version, b.manifest.max_length],
      ['news', '3', 256],
    );
    assert.deepEqual(a.reference.ids, b.reference.ids);
    // Refused rather than cut, the long text has no place in the reference.
    assert.deepEqual([a.manifest.truncation, b.manifest.truncation], [false, false]);
    assert.ok(Math.max(...a.reference.ids.map((ids) => ids.length)) < 256);
    assert.ok(a.reference.texts.length >= 5);
    a.reference.logits
      .flat()
      .forEach((value, k) =>
        assert.ok(Math.abs(value - b.reference.logits.flat()[k]) < 1e-5, `logit ${k}`),
      );
  });

  it('refuses a max_length over 512 or over the model, writing nothing', async () => {
    const out = join(dir, 'too-long');
    const run = await runImport(join(fixtures, 'bert_news_classification.mar'), [
      '--out',
      out,
      '--num-attention-heads',
      '4',
      '--max-length',
      '1024',
    ]);
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /max_length 1024 is outside 2\.\.512/);
    assert.ok(!existsSync(out));
  });
});
