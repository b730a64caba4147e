import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as tar from 'tar';
import { MANIFEST_FILE, TextTokenizer, openModel, writeArchive } from '@app/handler';
import { runBatch } from '../support/run-batch';
import { demoPackageCopy } from '../support/packages';
import { DEMO_MODEL, ROOT } from '../support/paths';

const fixtures = join(ROOT, 'test', 'fixtures');

describe('model package loader', () => {
  it('rejects a package whose named file is missing, naming the file', async () => {
    const dir = demoPackageCopy();
    unlinkSync(join(dir, 'vocab.txt'));
    await assert.rejects(openModel(dir), {
      name: 'ModelPackageError',
      message: /lacks vocab\.txt/,
    });
  });

  it('rejects a manifest that does not parse', async () => {
    const dir = demoPackageCopy();
    writeFileSync(join(dir, MANIFEST_FILE), '{"name": "x",');
    await assert.rejects(openModel(dir), { message: /MANIFEST\.json .* is not valid JSON/ });
  });

  it('rejects a manifest field of the wrong type, naming the field', async () => {
    const dir = demoPackageCopy((m) => (m.max_length = 'long'));
    await assert.rejects(openModel(dir), { message: /max_length: .*number/ });
  });

  it("rejects a max_length over the model's positions (control: the largest it has loads)", async () => {
    const over = demoPackageCopy((m) => (m.max_length = 513));
    await assert.rejects(openModel(over, { device: 'cpu', warmup: false }), {
      name: 'ModelPackageError',
      message: /max_length 513, over the 512 positions of the model/,
    });
    const { pkg, handler } = await openModel(
      demoPackageCopy((m) => (m.max_length = 512)),
      { device: 'cpu' },
    );
    const [encoded] = await handler.preprocess([' word'.repeat(1000)]);
    assert.equal(encoded.length, 512);
    await handler.dispose();
    await pkg.release();
  });

  it('refuses a text over max_length when the manifest says truncation: false (control: cut by default)', async () => {
    const long = ' word'.repeat(40);
    for (const truncation of [false, true]) {
      const dir = demoPackageCopy((m) => {
        delete m.windows; // windows take the place of truncation
        Object.assign(m, { max_length: 16, truncation });
      });
      const { pkg, handler } = await openModel(dir, { device: 'cpu' });
      try {
        const [short] = await handler.preprocess(['Stocks fall']);
        assert.ok(short.length < 16);
        if (truncation) {
          const [cut] = await handler.preprocess(['Stocks fall', long]).then((e) => e.slice(1));
          assert.equal(cut.length, 16);
        } else {
          await assert.rejects(handler.preprocess(['Stocks fall', long]), {
            name: 'HandlerInputError',
            message: /item 1 is longer than the model's 16 tokens/,
          });
        }
      } finally {
        await handler.dispose();
        await pkg.release();
      }
    }
  });

  it('rejects a graph whose inputs do not match the handler', async () => {
    const dir = demoPackageCopy();
    copyFileSync(join(fixtures, 'onnx', 'wrong-inputs.onnx'), join(dir, 'model.onnx'));
    await assert.rejects(openModel(dir, { device: 'cpu' }), {
      message: /has inputs \[ids\].*needs \[input_ids, attention_mask\]/,
    });
  });

  it('rejects a label count that differs from the logits width', async () => {
    const three = demoPackageCopy();
    copyFileSync(join(fixtures, 'onnx', 'three-logits.onnx'), join(three, 'model.onnx'));
    await assert.rejects(openModel(three, { device: 'cpu' }), {
      message: /returns 3 logits per text but the package has 4 labels/,
    });
    const labels = demoPackageCopy((m) => (m.labels = ['a', 'b', 'c']));
    await assert.rejects(openModel(labels, { device: 'cpu' }), {
      message: /4 logits per text but the package has 3 labels/,
    });
  });

  it('loads an archive of the demo package and answers like the folder', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'modelfleet-archive-')), 'demo.tar.gz');
    await writeArchive(file, DEMO_MODEL, [
      MANIFEST_FILE,
      'model.onnx',
      'vocab.txt',
      'config.json',
      'reference.json',
    ]);
    const fromArchive = await openModel(file, { device: 'cpu' });
    const fromFolder = await openModel(DEMO_MODEL, { device: 'cpu' });
    const texts = ['Apple unveils a new phone'];
    assert.deepEqual(
      (await runBatch(fromArchive.handler, texts)).results,
      (await runBatch(fromFolder.handler, texts)).results,
    );
    await fromArchive.handler.dispose();
    await fromArchive.pkg.release();
    await fromFolder.handler.dispose();
  });

  it('rejects an archive entry that escapes its folder', async () => {
    const work = mkdtempSync(join(tmpdir(), 'modelfleet-evil-'));
    mkdirSync(join(work, 'inner'));
    writeFileSync(join(work, 'evil.txt'), 'x');
    const file = join(work, 'evil.tar.gz');
    await tar.c({ file, gzip: true, cwd: join(work, 'inner'), preservePaths: true }, [
      '../evil.txt',
    ]);
    await assert.rejects(openModel(file), {
      message: /archive entry "\.\.\/evil\.txt" escapes its folder/,
    });
    rmSync(work, { recursive: true, force: true });
  });

  it('rejects an archive over the configured size', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'modelfleet-big-')), 'demo.tar.gz');
    await writeArchive(file, DEMO_MODEL, [MANIFEST_FILE, 'vocab.txt']);
    await assert.rejects(openModel(file, { maxArchiveBytes: 10_000 }), {
      message: /over the limit of 10000/,
    });
  });

  it('loads a package whose tokenizer is a tokenizer.json, answering like the vocab.txt one', async () => {
    const source = await TextTokenizer.load(
      { vocabFile: join(DEMO_MODEL, 'vocab.txt'), lowercase: true },
      128,
    );
    const dir = demoPackageCopy((m) => {
      delete m.vocab_file;
      m.tokenizer_file = 'tokenizer.json';
    });
    unlinkSync(join(dir, 'vocab.txt'));
    source.save(join(dir, 'tokenizer.json'));
    const fromJson = await openModel(dir, { device: 'cpu' });
    const fromVocab = await openModel(DEMO_MODEL, { device: 'cpu' });
    const texts = [
      'Ferrari wins the Monaco Grand Prix',
      'Central bank raises interest rates again',
    ];
    assert.deepEqual(
      await fromJson.handler.preprocess(texts),
      await fromVocab.handler.preprocess(texts),
    );
    assert.deepEqual(
      (await runBatch(fromJson.handler, texts)).results,
      (await runBatch(fromVocab.handler, texts)).results,
    );
    await fromJson.handler.dispose();
    await fromVocab.handler.dispose();
  });

  it('falls back from CUDA to the CPU with one log line when no CUDA provider is usable', async () => {
    const lines: string[] = [];
    const { handler } = await openModel(DEMO_MODEL, {
      device: 'cuda',
      log: (line) => lines.push(line),
    });
    const fallback = lines.filter((l) =>
      /CUDA execution provider unavailable, falling back to CPU/.test(l),
    );
    assert.equal(fallback.length, 1, lines.join('\n'));
    assert.equal((handler as unknown as { provider: string }).provider, 'cpu');
    await handler.dispose();
  });

  it('runs a custom handler module named by the package', async () => {
    const { handler } = await openModel(join(fixtures, 'keyword-handler'), {
      allowPackageCode: true,
    });
    const { results } = await runBatch(handler, ['The business of sports', 'big business news']);
    assert.deepEqual(results, [
      { label: 0, label_name: 'sports', custom: true },
      { label: 1, label_name: 'business', custom: true },
    ]);
  });
});
