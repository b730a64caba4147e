import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { relativeToStore } from './store-paths';

describe('relativeToStore', () => {
  const root = mkdtempSync(join(tmpdir(), 'store-paths-'));
  const link = join(root, 'linked-store');
  symlinkSync(root, link);
  after(() => rmSync(root, { recursive: true, force: true }));

  it('writes paths inside the store relative to it, and the store as MODEL_STORE', () => {
    assert.equal(
      relativeToStore(`model package ${root}/news lacks vocab.txt`, root),
      'model package news lacks vocab.txt',
    );
    assert.equal(
      relativeToStore(`package "news" is not in ${root}`, root),
      'package "news" is not in MODEL_STORE',
    );
  });

  it('takes out the store as configured and with its symlinks resolved', () => {
    const message = `Load model from ${root}/news/model.onnx failed; open '${link}/news/vocab.txt'`;
    assert.equal(
      relativeToStore(message, link),
      "Load model from news/model.onnx failed; open 'news/vocab.txt'",
    );
  });

  it('leaves other paths alone (control)', () => {
    const message = `unpacked into /var/tmp/x, ${root}-other/file and /x${root}/file`;
    assert.equal(relativeToStore(message, root), message);
  });
});
