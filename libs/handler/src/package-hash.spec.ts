import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { writeArchive } from './archive';
import { MANIFEST_FILE, manifestSchema } from './manifest';
import { loadModelPackage } from './model-package';
import { canonicalJson, packageSha256 } from './package-hash';

const root = mkdtempSync(join(tmpdir(), 'package-hash-'));
after(() => rmSync(root, { recursive: true, force: true }));

const manifest = {
  name: 'm',
  version: '1',
  model_file: 'model.onnx',
  vocab_file: 'vocab.txt',
  extra_files: ['notes/readme.txt'],
  labels: ['a', 'b'],
};

/** A package folder with the manifest (merged with `changes`) and files (merged with `files`). */
function pkg(name: string, changes: object = {}, files: Record<string, string> = {}): string {
  const dir = join(root, name);
  const all: Record<string, string> = {
    'model.onnx': 'graph bytes',
    'vocab.txt': '[PAD]\n[CLS]\n[SEP]\n',
    'notes/readme.txt': 'notes',
    ...files,
    [MANIFEST_FILE]: JSON.stringify({ ...manifest, ...changes }),
  };
  for (const [file, text] of Object.entries(all)) {
    const path = join(dir, file);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, text);
  }
  return dir;
}

async function hashOf(location: string): Promise<string> {
  const loaded = await loadModelPackage(location);
  try {
    return await packageSha256(loaded.dir, loaded.manifest, location);
  } finally {
    await loaded.release();
  }
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

describe('packageSha256', () => {
  it('is the sha256 of the sorted sha256sum-style listing of the manifest and its named files', async () => {
    const dir = pkg('listing');
    const { name: _n, version: _v, ...content } = manifestSchema.parse(manifest);
    const listing = [
      `${sha256(canonicalJson(content))}  MANIFEST.json`,
      `${sha256(readFileSync(join(dir, 'model.onnx')))}  model.onnx`,
      `${sha256(readFileSync(join(dir, 'notes/readme.txt')))}  notes/readme.txt`,
      `${sha256(readFileSync(join(dir, 'vocab.txt')))}  vocab.txt`,
    ];
    assert.equal(await hashOf(dir), sha256(listing.map((l) => `${l}\n`).join('')));
  });

  it('is the same for a folder and an archive of it, whatever the order of its entries', async () => {
    const dir = pkg('packed');
    const files = ['vocab.txt', 'notes/readme.txt', MANIFEST_FILE, 'model.onnx'];
    await writeArchive(join(root, 'forward.tar.gz'), dir, files);
    await writeArchive(join(root, 'backward.tgz'), dir, [...files].reverse());
    const folder = await hashOf(dir);
    assert.equal(await hashOf(join(root, 'forward.tar.gz')), folder);
    assert.equal(await hashOf(join(root, 'backward.tgz')), folder);
  });

  it('ignores the version, the order of manifest keys and files the manifest does not name', async () => {
    const base = await hashOf(pkg('base'));
    assert.equal(await hashOf(pkg('other-version', { version: '2' })), base);
    assert.equal(await hashOf(pkg('stray-file', {}, { 'stray.txt': 'x' })), base);
    const reordered = pkg('reordered');
    writeFileSync(
      join(reordered, MANIFEST_FILE),
      JSON.stringify(Object.fromEntries(Object.entries(manifest).reverse())),
    );
    assert.equal(await hashOf(reordered), base);
  });

  it('changes when a named file or a setting of the manifest changes', async () => {
    const base = await hashOf(pkg('control'));
    assert.notEqual(await hashOf(pkg('changed-file', {}, { 'notes/readme.txt': 'notes!' })), base);
    assert.notEqual(await hashOf(pkg('changed-setting', { max_length: 64 })), base);
  });
});
