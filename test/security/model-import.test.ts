import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { finish, madeFixtures, runImport, type MadeFixtures } from '../support/model-import';
import { TOOLS_PYTHON, pythonToolsSkipped } from '../support/python-tools';

const skip = pythonToolsSkipped(['torch', 'transformers', 'safetensors', 'onnxruntime', 'yaml']);

describe(
  'modelfleet import: a hostile source is refused and nothing it carries runs',
  { skip },
  () => {
    let made: MadeFixtures | undefined;
    let dir: string;
    let hostile: string;
    let markers: string;
    let outputs: string;

    /** Imports `source` into a fresh folder of `outputs`; returns the run and that folder. */
    async function importInto(name: string, source: string, ...args: string[]) {
      const out = join(outputs, name);
      return { run: await runImport(source, ['--out', out, ...args]), out };
    }

    /** A refusal: a non-zero exit with the reason, no package, no staging folder, no marker. */
    function assertRefused(
      result: { run: { status: number | null; stderr: string }; out: string },
      reason: RegExp,
    ) {
      assert.notEqual(result.run.status, 0, 'the import succeeded');
      assert.match(result.run.stderr, reason);
      assert.ok(!existsSync(result.out), 'a package was written');
      assert.deepEqual(
        readdirSync(outputs).filter((f) => f.startsWith('.import-')),
        [],
        'a staging folder was left',
      );
      assert.deepEqual(readdirSync(markers), [], 'something the source carries ran');
    }

    before(async () => {
      made = await madeFixtures('make_hostile.py', (folder) => {
        markers = join(folder, 'markers');
        mkdirSync(markers);
        return [markers];
      });
      ({ dir, fixtures: hostile } = made);
      outputs = join(dir, 'out');
      mkdirSync(outputs);
    });
    after(() => made?.remove());

    it('refuses a pickled __reduce__ payload for weights (control: unpickling it runs the payload)', async () => {
      const result = await importInto('pickle', join(hostile, 'pickle-payload.mar'));
      assertRefused(
        result,
        /not a plain state_dict of tensors \(it names the Python object exec\).*CVE-2025-27520/,
      );
      const control = await finish(TOOLS_PYTHON, [
        '-c',
        'import sys, torch; torch.load(sys.argv[1], weights_only=False)',
        join(hostile, 'payload.pth'),
      ]);
      assert.equal(control.status, 0, control.stderr);
      assert.deepEqual(readdirSync(markers), ['pickle-ran']);
      rmSync(join(markers, 'pickle-ran'));
    });

    it('never imports the handler of a sound .mar, nor copies it (control: importing it writes a file)', async () => {
      const { run, out } = await importInto(
        'handler',
        join(hostile, 'hostile-handler.mar'),
        '--num-attention-heads',
        '4',
      );
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stderr, /not run: model_handler\.py/);
      assert.deepEqual(readdirSync(markers), []);
      assert.deepEqual(
        readdirSync(out).filter((f) => !/\.(json|onnx|txt)$/.test(f)),
        [],
      );
      const control = await finish(TOOLS_PYTHON, [
        '-c',
        'import runpy, sys; runpy.run_path(sys.argv[1])',
        join(hostile, 'hostile_handler.py'),
      ]);
      assert.equal(control.status, 0, control.stderr);
      assert.deepEqual(readdirSync(markers), ['handler-ran']);
      rmSync(join(markers, 'handler-ran'));
    });

    // The same files without the bad entry import (the test above): the entry alone is refused.
    const archives: [string, string, RegExp][] = [
      [
        'an entry that climbs out with ".."',
        'path-escape.mar',
        /archive entry "\.\.\/escaped\.txt" escapes its folder/,
      ],
      ['an entry that is a symbolic link', 'link.mar', /archive entry "vocab-link\.txt" is a link/],
      [
        'more entries than the archive limit',
        'many-entries.mar',
        /central directory declares 1004 entries, more than the limit of 1000/,
      ],
      // Their directories are zeros: refused for what the end record declares, none of it read.
      [
        'an end record declaring more entries than the limit',
        'directory-entries.mar',
        /central directory declares 5000 entries, more than the limit of 1000/,
      ],
      [
        'an end record declaring a directory larger than the entry limit allows',
        'directory-bytes.mar',
        /central directory declares 268435456 bytes, more than the 4096000 the limit of 1000 entries allows/,
      ],
    ];
    for (const [what, file, reason] of archives) {
      it(`refuses a .mar with ${what} before reading any of it`, async () => {
        assertRefused(await importInto(file, join(hostile, file)), reason);
        assert.ok(
          !existsSync(join(dir, 'escaped.txt')) && !existsSync(join(tmpdir(), 'escaped.txt')),
        );
      });
    }

    it('reads the directory an end record declares within the limits (control: the same zeros, declared small, are read and found no zip)', async () => {
      assertRefused(
        await importInto('junk', join(hostile, 'directory-junk.mar')),
        /directory-junk\.mar is not a readable zip \(Bad magic number for central directory\)/,
      );
    });

    it("bounds a torch.save zip's directory as a .mar's, before torch.load reads it", async () => {
      assertRefused(
        await importInto('directory-checkpoint', join(hostile, 'directory-checkpoint')),
        /pytorch_model\.bin's central directory declares 5000 entries, more than the limit of 1000/,
      );
    });

    it('refuses TorchScript and a whole pickled model, saying why and what to save instead', async () => {
      assertRefused(
        await importInto('torchscript', join(hostile, 'torchscript.mar')),
        /is a TorchScript module \(torch\.jit\.save\).*export model\.state_dict\(\)/,
      );
      assertRefused(
        await importInto('full-model', join(hostile, 'full-model.mar')),
        /names the Python object transformers\.models\.bert\.modeling_bert\.BertForSequenceClassification.*save model\.state_dict\(\)/,
      );
    });

    it('refuses a model that is not a BERT sequence classifier, naming what it supports', async () => {
      assertRefused(
        await importInto('gpt2', join(hostile, 'gpt2-checkpoint')),
        /model_type 'gpt2' \(GPT2ForSequenceClassification\); modelfleet import supports BERT sequence classifiers/,
      );
    });
  },
);
