import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadModelPackage, packageSha256 } from '@app/handler';
import { DEMO_MODEL, ROOT } from '../support/paths';

function modelfleet(args: string[], input?: string) {
  const result = spawnSync(process.execPath, [join(ROOT, 'bin', 'modelfleet.js'), ...args], {
    input,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('modelfleet CLI', () => {
  it('predict classifies texts given as arguments', () => {
    const run = modelfleet([
      'predict',
      '--model',
      DEMO_MODEL,
      '--device',
      'cpu',
      'The Lakers won the NBA title',
      'Intel unveils a faster chip',
    ]);
    assert.equal(run.code, 0, run.stderr);
    const results = JSON.parse(run.stdout);
    assert.equal(results.length, 2);
    assert.equal(results[0].label_name, 'Sports');
    assert.equal(results[1].label_name, 'Sci/Tech');
  });

  it('predict reads one text per line from stdin and adds probabilities when asked', () => {
    const run = modelfleet(
      ['predict', '-m', DEMO_MODEL, '--probabilities'],
      'first text\n\nsecond text\n',
    );
    assert.equal(run.code, 0, run.stderr);
    const results = JSON.parse(run.stdout);
    assert.equal(results.length, 2);
    assert.equal(results[0].probabilities.length, 4);
  });

  it('predict fails with a message naming a missing package', () => {
    const run = modelfleet(['predict', '-m', '/no/such/package', 'x']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /model package \/no\/such\/package does not exist/);
  });

  it('archive builds a package the loader accepts and predict can use', async () => {
    const out = mkdtempSync(join(tmpdir(), 'modelfleet-cli-'));
    const args = [
      'archive',
      '--model-name',
      'news',
      '--version',
      '7',
      '--model-file',
      join(DEMO_MODEL, 'model.onnx'),
      '--vocab',
      join(DEMO_MODEL, 'vocab.txt'),
      '--config',
      join(DEMO_MODEL, 'config.json'),
      '--max-length',
      '128',
      '--export-path',
      out,
    ];
    const run = modelfleet(args);
    assert.equal(run.code, 0, run.stderr);
    const archive = join(out, 'news-7.tar.gz');
    assert.equal(run.stdout.trim(), archive);
    const pkg = await loadModelPackage(archive);
    assert.equal(pkg.manifest.name, 'news');
    assert.deepEqual(pkg.labels, ['World', 'Sports', 'Business', 'Sci/Tech']);
    assert.equal(modelfleet(args).code, 1, 'refuses to overwrite without --force');
    assert.equal(modelfleet([...args, '--force']).code, 0);
    const predicted = modelfleet(['predict', '-m', archive, 'Champions League final tonight']);
    assert.equal(predicted.code, 0, predicted.stderr);
    assert.equal(JSON.parse(predicted.stdout)[0].label_name, 'Sports');
    assert.ok(existsSync(archive));
  });

  it('archive --from makes another version of a package, of the same content hash', async () => {
    const out = mkdtempSync(join(tmpdir(), 'modelfleet-cli-'));
    const hashOf = async (location: string) => {
      const pkg = await loadModelPackage(location);
      try {
        return await packageSha256(pkg.dir, pkg.manifest);
      } finally {
        await pkg.release();
      }
    };
    const shipped = await hashOf(DEMO_MODEL);
    const copy = modelfleet([
      'archive',
      '--from',
      DEMO_MODEL,
      '--version',
      '2',
      '--export-path',
      out,
    ]);
    assert.equal(copy.code, 0, copy.stderr);
    assert.equal(copy.stdout.trim(), join(out, 'ag-news-bert-2.tar.gz'));
    const archived = await loadModelPackage(copy.stdout.trim());
    assert.equal(archived.manifest.version, '2');
    await archived.release();
    assert.equal(await hashOf(copy.stdout.trim()), shipped);
    // Control: an option given replaces the package's setting, and so changes the hash.
    const changed = modelfleet([
      ...['archive', '--from', DEMO_MODEL, '--version', '3', '--max-length', '64'],
      ...['--export-path', out],
    ]);
    assert.equal(changed.code, 0, changed.stderr);
    const other = await loadModelPackage(changed.stdout.trim());
    assert.equal(other.manifest.max_length, 64);
    assert.equal(other.manifest.batching.max_batch_tokens, 8192, "the package's other settings");
    await other.release();
    assert.notEqual(await hashOf(changed.stdout.trim()), shipped);
  });

  it('--version prints the version of the package', () => {
    const run = modelfleet(['--version']);
    assert.equal(run.code, 0, run.stderr);
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    assert.equal(run.stdout.trim(), version);
  });

  it('says to build first when run before a build, without a MODULE_NOT_FOUND trace', () => {
    // The launcher alone, in a checkout with no dist/ yet.
    const checkout = mkdtempSync(join(tmpdir(), 'modelfleet-unbuilt-'));
    mkdirSync(join(checkout, 'bin'));
    copyFileSync(join(ROOT, 'bin', 'modelfleet.js'), join(checkout, 'bin', 'modelfleet.js'));
    try {
      const run = spawnSync(process.execPath, [join(checkout, 'bin', 'modelfleet.js'), '--help'], {
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(run.status, 1);
      assert.match(run.stderr, /not built yet .*npm run build/);
      assert.doesNotMatch(run.stderr, /MODULE_NOT_FOUND|at Module/);
    } finally {
      rmSync(checkout, { recursive: true, force: true });
    }
  });
});
