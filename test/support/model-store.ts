import {
  copyFileSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MANIFEST_FILE } from '@app/handler';
import { DEMO_MODEL } from './paths';

const SHARED_FILES = ['model.onnx', 'vocab.txt', 'config.json', 'reference.json'];

/**
 * A temporary model store holding the demo model under several versions (folders named
 * `ag-news-bert-v<version>`). `labels` per version lets two versions answer differently;
 * `manifest` adds or replaces manifest fields of a version.
 */
export function demoModelStore(
  versions: { version: string; labels?: string[]; manifest?: Record<string, unknown> }[],
): string {
  const store = mkdtempSync(join(tmpdir(), 'modelfleet-store-'));
  const manifest = JSON.parse(readFileSync(join(DEMO_MODEL, MANIFEST_FILE), 'utf8'));
  for (const { version, labels, manifest: extra } of versions) {
    const dir = join(store, `ag-news-bert-v${version}`);
    mkdirSync(dir);
    for (const file of SHARED_FILES) shareFile(join(DEMO_MODEL, file), join(dir, file));
    writeFileSync(
      join(dir, MANIFEST_FILE),
      JSON.stringify({ ...manifest, ...extra, version, ...(labels ? { labels } : {}) }),
    );
  }
  return store;
}

/**
 * A hard link where the file system allows one, else a copy. Never a symlink: a package whose
 * files resolve outside its folder is refused.
 */
export function shareFile(source: string, target: string): void {
  try {
    linkSync(source, target);
  } catch {
    copyFileSync(source, target);
  }
}
