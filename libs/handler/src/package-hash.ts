import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { posix } from 'node:path';
import { MANIFEST_FILE, TEXT_CLASSIFICATION, type ModelManifest } from './manifest';
import { packageFile } from './model-package';

/**
 * The content hash of a model package: what its answers depend on, whatever the folder, archive
 * or version it came in. It is the sha256 of a `sha256sum`-style listing, one line per file,
 * sorted by path (byte order):
 *
 * ```
 * <sha256 of the file, hex>  <path relative to the package root, "/"-separated>\n
 * ```
 *
 * The files are the manifest and every file it names (`model_file`, `tokenizer_file`,
 * `vocab_file`, `config_file`, `extra_files`, a handler module); other files of the folder do
 * not count. The manifest's line hashes its validated content, defaults filled in, without
 * `name` and `version`, as JSON with sorted keys: the same files under another version share
 * the hash, and the packing of an archive (order, timestamps, compression) never changes it.
 */
export async function packageSha256(
  dir: string,
  manifest: ModelManifest,
  location = dir,
): Promise<string> {
  const { name: _name, version: _version, ...content } = manifest;
  const lines = [`${sha256(canonicalJson(content))}  ${MANIFEST_FILE}`];
  const named = new Set(
    [
      manifest.model_file,
      manifest.tokenizer_file,
      manifest.vocab_file,
      manifest.config_file,
      ...manifest.extra_files,
      manifest.handler === TEXT_CLASSIFICATION ? undefined : manifest.handler,
    ]
      .filter((file): file is string => Boolean(file))
      .map((file) => posix.normalize(file.replace(/\\/g, '/'))),
  );
  for (const file of named) {
    lines.push(`${await fileSha256(packageFile(dir, file, location))}  ${file}`);
  }
  lines.sort((a, b) => compareBytes(a.slice(66), b.slice(66)));
  return sha256(lines.map((line) => `${line}\n`).join(''));
}

/** JSON with object keys sorted at every depth. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => compareBytes(a, b));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function fileSha256(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
