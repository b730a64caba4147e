import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { MANIFEST_FILE, loadModelPackage, writeArchive } from '@app/handler';
import { DEMO_MODEL } from '../support/paths';
import { Stack } from '../support/stack';

const DEMO_FILES = [MANIFEST_FILE, 'model.onnx', 'vocab.txt', 'config.json', 'reference.json'];
const work = mkdtempSync(join(tmpdir(), 'modelfleet-archives-'));

/** An archive of the demo package plus `fillers` small files, with the manifest edited. */
async function demoArchive(
  name: string,
  options: { fillers?: number; edit?: (m: Record<string, unknown>) => void } = {},
): Promise<string> {
  const source = join(work, `${name}-src`);
  cpSync(DEMO_MODEL, source, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(source, MANIFEST_FILE), 'utf8'));
  options.edit?.(manifest);
  writeFileSync(join(source, MANIFEST_FILE), JSON.stringify(manifest));
  const fillers = Array.from({ length: options.fillers ?? 0 }, (_, i) => `filler-${i}.txt`);
  for (const file of fillers) writeFileSync(join(source, file), 'x');
  const file = join(work, `${name}.tar.gz`);
  await writeArchive(file, source, [...DEMO_FILES, ...fillers]);
  return file;
}

/** Asserts the demo package loads from `file`, then lets it go. */
async function assertLoads(file: string, limits: Parameters<typeof loadModelPackage>[1] = {}) {
  const pkg = await loadModelPackage(file, limits);
  assert.equal(pkg.manifest.name, 'ag-news-bert');
  await pkg.release();
}

/** What unpacking left in `scratch`: the system temp folder of the code under test. */
const unpackedIn = (scratch: string) =>
  readdirSync(scratch).filter((name) => name.startsWith('modelfleet-package'));

describe('package archives in this process', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'modelfleet-scratch-'));
  const systemTemp = process.env.TMPDIR;

  before(() => {
    process.env.TMPDIR = scratch;
  });
  after(() => {
    if (systemTemp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = systemTemp;
  });

  it('unpacks into a new private folder each time, never into a folder prepared for it', async () => {
    const file = await demoArchive('plain');
    // The shared, predictable folder earlier versions reused: planted with other labels.
    const sha = createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 32);
    const planted = join(scratch, 'modelfleet-packages', sha);
    cpSync(DEMO_MODEL, planted, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(planted, MANIFEST_FILE), 'utf8'));
    writeFileSync(
      join(planted, MANIFEST_FILE),
      JSON.stringify({ ...manifest, labels: ['a', 'b'] }),
    );

    const first = await loadModelPackage(file);
    const second = await loadModelPackage(file);
    assert.deepEqual(first.labels, ['World', 'Sports', 'Business', 'Sci/Tech']);
    assert.notEqual(first.dir, second.dir);
    for (const { dir } of [first, second]) {
      assert.equal(dirname(dir), scratch);
      assert.equal(statSync(dir).mode & 0o777, 0o700, 'the folder is private');
    }
    assert.equal(unpackedIn(scratch).length, 3, 'both unpacked folders exist while in use');
    await first.release();
    await second.release();
    assert.deepEqual(
      unpackedIn(scratch),
      ['modelfleet-packages'],
      'only the planted folder is left',
    );
  });

  it('refuses an archive over the entry limit and leaves nothing behind', async () => {
    const file = await demoArchive('many', { fillers: 60 });
    await assert.rejects(loadModelPackage(file, { maxArchiveEntries: 50 }), {
      name: 'ModelPackageError',
      message: /has more than 50 entries/,
    });
    assert.deepEqual(unpackedIn(scratch), ['modelfleet-packages']);
    // Control: the same archive under a higher limit loads.
    await assertLoads(file, { maxArchiveEntries: 100 });
  });

  it('stops a decompression bomb at the byte limit and leaves nothing behind', async () => {
    const source = join(work, 'bomb-src');
    mkdirSync(source);
    writeFileSync(join(source, MANIFEST_FILE), readFileSync(join(DEMO_MODEL, MANIFEST_FILE)));
    writeFileSync(join(source, 'zeros.bin'), Buffer.alloc(64 * 1024 * 1024));
    const file = join(work, 'bomb.tar.gz');
    await writeArchive(file, source, [MANIFEST_FILE, 'zeros.bin']);
    assert.ok(statSync(file).size < 1024 * 1024, 'a bomb: small packed, large unpacked');
    await assert.rejects(loadModelPackage(file, { maxArchiveBytes: 8 * 1024 * 1024 }), {
      message: /unpacks to more than the limit of 8388608 bytes/,
    });
    assert.deepEqual(unpackedIn(scratch), ['modelfleet-packages']);
  });

  it("refuses a gzip inside the gzip, which tar would inflate out of the byte count's sight (control: the inner one loads)", async () => {
    const inner = await demoArchive('inner');
    const twice = join(work, 'twice.tar.gz.gz');
    writeFileSync(twice, gzipSync(readFileSync(inner)));
    await assert.rejects(loadModelPackage(twice), {
      name: 'ModelPackageError',
      message: /is a gzip inside a gzip; only a tar or a gzipped tar is read/,
    });
    assert.deepEqual(unpackedIn(scratch), ['modelfleet-packages']);
    await assertLoads(inner);
  });

  it('refuses links in an archive and leaves nothing behind', async () => {
    const source = join(work, 'link-src');
    mkdirSync(source);
    writeFileSync(join(source, MANIFEST_FILE), readFileSync(join(DEMO_MODEL, MANIFEST_FILE)));
    symlinkSync('/etc/passwd', join(source, 'vocab.txt'));
    const file = join(work, 'link.tar.gz');
    await writeArchive(file, source, [MANIFEST_FILE, 'vocab.txt']);
    await assert.rejects(loadModelPackage(file), {
      message: /"vocab\.txt" is a SymbolicLink; only files and folders are allowed/,
    });
    assert.deepEqual(unpackedIn(scratch), ['modelfleet-packages']);
  });

  it('removes the unpacked folder when the package inside is refused', async () => {
    const file = await demoArchive('broken', { edit: (m) => (m.vocab_file = 'missing.txt') });
    await assert.rejects(loadModelPackage(file), { message: /lacks missing\.txt/ });
    assert.deepEqual(unpackedIn(scratch), ['modelfleet-packages']);
  });
});

describe('package archives registered through the API', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'modelfleet-api-scratch-'));
  const store = mkdtempSync(join(tmpdir(), 'modelfleet-archive-store-'));
  let stack: Stack;

  before(async () => {
    cpSync(join(work, 'many.tar.gz'), join(store, 'many.tar.gz'));
    cpSync(join(work, 'broken.tar.gz'), join(store, 'broken.tar.gz'));
    cpSync(join(work, 'plain.tar.gz'), join(store, 'plain.tar.gz'));
    stack = await Stack.start({
      modelStore: store,
      env: { MODELS: 'plain.tar.gz', MAX_ARCHIVE_ENTRIES: '50', TMPDIR: scratch },
      workers: 0,
      waitHealthy: false,
    });
  });
  after(async () => {
    await stack?.stop();
  });

  it('answers 400 to an archive over MAX_ARCHIVE_ENTRIES or with a broken package, keeping no files', async () => {
    for (const [url, why] of [
      ['many.tar.gz', /more than 50 entries/],
      ['broken.tar.gz', /lacks missing\.txt/],
    ] as const) {
      const response = await stack.manage('POST', `/models?url=${url}`);
      assert.equal(response.status, 400, JSON.stringify(response.body));
      assert.match(response.headers.get('content-type') ?? '', /application\/problem\+json/);
      assert.match(response.body.detail, why);
    }
    assert.deepEqual(unpackedIn(scratch), []);
    assert.ok(!existsSync(join(scratch, 'modelfleet-packages')));
  });

  // Control: the archive registered at start went through the same unpacking, and is listed.
  it('registered the archive within the limits, and kept none of its files either', async () => {
    const models = await stack.manage('GET', '/models');
    assert.equal(models.status, 200);
    assert.deepEqual(
      models.body.models.map((m: { modelName: string }) => m.modelName),
      ['ag-news-bert'],
    );
    assert.deepEqual(unpackedIn(scratch), []);
  });
});
