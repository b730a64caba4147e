import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  BERT_VOCAB,
  madeFixtures,
  runImport,
  type Finished,
  type MadeFixtures,
} from '../support/model-import';
import { TOOLS_PYTHON, pythonToolsSkipped } from '../support/python-tools';

const skip = pythonToolsSkipped(['torch', 'transformers', 'safetensors', 'onnxruntime']);

/** Address space the exporter may take: ample for the fixtures' 2-layer model, not for 20 GB. */
const EXPORTER_MEMORY_KB = 4_000_000;

describe(
  'modelfleet import: a source that lies about its files, name or size is refused',
  { skip },
  () => {
    let made: MadeFixtures | undefined;
    let dir: string;
    let lying: string;
    let limitedPython: string;
    /** The sound checkpoint imported under the memory limit, with the outside vocabulary. */
    let sound: { run: Finished; out: string };

    before(async () => {
      made = await madeFixtures('make_lying.py');
      ({ dir, fixtures: lying } = made);
      limitedPython = join(dir, 'python-limited.sh');
      writeFileSync(
        limitedPython,
        `#!/bin/sh\nulimit -v ${EXPORTER_MEMORY_KB}\nexec "${TOOLS_PYTHON}" "$@"\n`,
      );
      chmodSync(limitedPython, 0o755);
      const out = join(dir, 'sound');
      const args = ['--out', out, '--vocab', join(lying, 'outside-vocab.txt')];
      sound = {
        run: await runImport(join(lying, 'checkpoint-sound'), [...args, '--python', limitedPython]),
        out,
      };
    });
    after(() => made?.remove());

    it("never deletes or writes outside the packages folder for a .mar's modelName (control: --force replaces the folder a name gives)", async () => {
      const work = join(dir, 'work');
      mkdirSync(join(work, 'victim'), { recursive: true });
      writeFileSync(join(work, 'victim', 'precious.txt'), 'keep me\n');
      const mar = join(lying, 'name-escape.mar');
      const run = await runImport(mar, ['--force'], work);
      assert.notEqual(run.status, 0, 'the import succeeded');
      assert.match(run.stderr, /package name '\.\.\/victim' is not letters, digits.*pass --name/);
      assert.ok(existsSync(join(work, 'victim', 'precious.txt')), 'the import deleted ../victim');
      assert.deepEqual(readdirSync(join(work, 'models')), [], 'a staging folder was left');

      // Control: --force does remove what the package's folder holds; only the name kept it off.
      mkdirSync(join(work, 'models', 'replaced'));
      writeFileSync(join(work, 'models', 'replaced', 'precious.txt'), 'replaced\n');
      const control = await runImport(mar, ['--force', '--name', 'replaced'], work);
      assert.equal(control.status, 0, control.stderr);
      assert.ok(!existsSync(join(work, 'models', 'replaced', 'precious.txt')));
      assert.ok(existsSync(join(work, 'models', 'replaced', 'MANIFEST.json')));
    });

    it('refuses a checkpoint folder whose file links out of it (control: that file given by --vocab lands in the package)', async () => {
      const out = join(dir, 'linked');
      const run = await runImport(join(lying, 'checkpoint-link'), ['--out', out]);
      assert.notEqual(run.status, 0, 'the import succeeded');
      assert.match(run.stderr, /"vocab\.txt" resolves outside .*never followed/);
      assert.ok(!existsSync(out), 'a package was written');

      assert.equal(sound.run.status, 0, sound.run.stderr);
      assert.match(readFileSync(join(sound.out, 'vocab.txt'), 'utf8'), /modelfleet-outside-marker/);
    });

    it("refuses safetensors whose header lies about its length or offsets, saying so (control: the sound checkpoint's are read)", async () => {
      for (const [file, reason] of [
        ['huge-header.safetensors', /header too large/],
        ['bad-offsets.safetensors', /incomplete metadata, file not fully covered/],
      ] as const) {
        const out = join(dir, file);
        const run = await runImport(join(lying, file), ['--out', out]);
        assert.notEqual(run.status, 0, 'the import succeeded');
        assert.match(
          run.stderr,
          new RegExp(`refused: ${file} is not a safetensors file of tensors`),
        );
        assert.match(run.stderr, reason);
        assert.ok(!existsSync(out), 'a package was written');
      }
      assert.equal(sound.run.status, 0, sound.run.stderr);
    });

    it("refuses a config.json whose sizes are not its weights' before building the model (control: the sound one imports under the same memory limit)", async () => {
      const out = join(dir, 'huge');
      const run = await runImport(join(lying, 'checkpoint-huge'), [
        '--out',
        out,
        '--python',
        limitedPython,
      ]);
      assert.notEqual(run.status, 0, 'the import succeeded');
      assert.match(
        run.stderr,
        /config\.json says num_hidden_layers 100000 but the weights hold 2 layer\(s\)/,
      );
      assert.ok(!existsSync(out), 'a package was written');
      assert.equal(sound.run.status, 0, sound.run.stderr);
    });

    it('refuses weights that declare more than their bytes hold, before building the model (control: the same state_dict whole imports under the same memory limit)', async () => {
      for (const [file, reason] of [
        ['expanded.pth', /word_embeddings\.weight of shape \[100000000, 64\] is a view/],
        ['many-layers.pth', /encoder layer \d+ does not hold the tensors of layer 0/],
      ] as const) {
        const out = join(dir, file);
        const args = ['--out', out, '--vocab', BERT_VOCAB, '--python', limitedPython];
        const run = await runImport(join(lying, file), args);
        assert.notEqual(run.status, 0, 'the import succeeded');
        assert.match(run.stderr, reason);
        assert.ok(!existsSync(out), 'a package was written');
      }
      const out = join(dir, 'whole');
      const whole = join(lying, 'bert_news_classification_model.pth');
      const control = await runImport(whole, [
        '--out',
        out,
        '--vocab',
        BERT_VOCAB,
        '--python',
        limitedPython,
      ]);
      assert.equal(control.status, 0, control.stderr);
      assert.ok(existsSync(join(out, 'MANIFEST.json')));
    });
  },
);
