import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import {
  DEFAULT_MAX_ARCHIVE_BYTES,
  DEFAULT_MAX_ARCHIVE_ENTRIES,
  extractArchive,
  removeUnpacked,
} from './archive';
import { ModelPackageError } from './errors';
import {
  MANIFEST_FILE,
  TEXT_CLASSIFICATION,
  describeIssues,
  manifestSchema,
  type ModelManifest,
} from './manifest';

/** A package on disk, checked: its folder, manifest and label names. */
export interface ModelPackage {
  /** The package's folder, symlinks resolved: every file the manifest names is inside it. */
  readonly dir: string;
  readonly manifest: ModelManifest;
  readonly labels: readonly string[];
  /** Removes what loading unpacked (an archive's folder); a no-op for a folder package. */
  release(): Promise<void>;
}

export interface LoadOptions {
  /** Largest archive accepted, packed or unpacked. */
  readonly maxArchiveBytes?: number;
  /** Most entries an archive may hold. */
  readonly maxArchiveEntries?: number;
  /**
   * Accept a package whose handler is a JavaScript module of its own (default false). Such a
   * module runs with every right of the process that loads it: only for trusted packages.
   */
  readonly allowPackageCode?: boolean;
}

/**
 * Loads a model package from a folder or an archive file, and rejects it with an error naming
 * the problem: unreadable or invalid manifest, a named file that is missing or that resolves
 * (after symlinks) outside the package, a handler module when package code is not allowed,
 * labels that cannot be found. The graph itself is checked by the handler when it initialises.
 */
export async function loadModelPackage(
  location: string,
  options: LoadOptions = {},
): Promise<ModelPackage> {
  const path = resolve(location);
  if (!existsSync(path)) throw new ModelPackageError(`model package ${location} does not exist`);
  if (statSync(path).isDirectory()) {
    return checkPackage(realpathSync(path), location, options, () => Promise.resolve());
  }
  const dir = await extractArchive(path, {
    maxBytes: options.maxArchiveBytes ?? DEFAULT_MAX_ARCHIVE_BYTES,
    maxEntries: options.maxArchiveEntries ?? DEFAULT_MAX_ARCHIVE_ENTRIES,
  });
  const release = () => removeUnpacked(dir);
  try {
    return checkPackage(realpathSync(dir), location, options, release);
  } catch (error) {
    await release();
    throw error;
  }
}

function checkPackage(
  dir: string,
  location: string,
  options: LoadOptions,
  release: () => Promise<void>,
): ModelPackage {
  const manifest = readManifest(dir, location);
  const customHandler = manifest.handler === TEXT_CLASSIFICATION ? undefined : manifest.handler;
  if (customHandler && !options.allowPackageCode) {
    throw new ModelPackageError(
      `model package ${location} names a handler module (${customHandler}), and loading code ` +
        'from a package is off: set ALLOW_PACKAGE_CODE=true to run it, for trusted packages only',
    );
  }
  const named = [
    manifest.model_file,
    manifest.tokenizer_file,
    manifest.vocab_file,
    manifest.config_file,
    ...manifest.extra_files,
    customHandler,
  ];
  for (const file of named) if (file) packageFile(dir, file, location);
  checkWindow(dir, manifest, location);
  return { dir, manifest, labels: readLabels(dir, manifest, location), release };
}

/**
 * Rejects a `max_length` beyond the positions the model has (`max_position_embeddings` of its
 * `config.json`, when it says): such a package would answer every long text with a failed
 * forward pass instead of truncating it.
 */
function checkWindow(dir: string, manifest: ModelManifest, location: string): void {
  if (!manifest.config_file) return;
  let positions: unknown;
  try {
    const file = packageFile(dir, manifest.config_file, location);
    positions = (JSON.parse(readFileSync(file, 'utf8')) as { max_position_embeddings?: unknown })
      .max_position_embeddings;
  } catch {
    return; // readLabels names a config that does not parse, when it needs one
  }
  if (typeof positions === 'number' && manifest.max_length > positions) {
    throw new ModelPackageError(
      `${MANIFEST_FILE} of ${location} sets max_length ${manifest.max_length}, over the ` +
        `${positions} positions of the model (max_position_embeddings in ${manifest.config_file})`,
    );
  }
}

/**
 * The real path of a file the package names, checked: it exists and, once every symlink is
 * resolved, lies inside the package's (real) folder.
 */
export function packageFile(dir: string, file: string, location: string): string {
  let real: string;
  try {
    real = realpathSync(join(dir, file));
  } catch {
    throw new ModelPackageError(`model package ${location} lacks ${file}, named in its manifest`);
  }
  const inside = relative(dir, real);
  if (inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
    throw new ModelPackageError(
      `model package ${location} names ${file}, which resolves outside the package`,
    );
  }
  if (!statSync(real).isFile()) {
    throw new ModelPackageError(`model package ${location} names ${file}, which is not a file`);
  }
  return real;
}

function readManifest(dir: string, location: string): ModelManifest {
  if (!existsSync(join(dir, MANIFEST_FILE)))
    throw new ModelPackageError(`model package ${location} has no ${MANIFEST_FILE}`);
  const file = packageFile(dir, MANIFEST_FILE, location);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ModelPackageError(
      `${MANIFEST_FILE} of ${location} is not valid JSON: ${String(error)}`,
    );
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ModelPackageError(
      `${MANIFEST_FILE} of ${location} is invalid: ${describeIssues(parsed.error)}`,
    );
  }
  return parsed.data;
}

/** Labels from the manifest, else from `id2label` in the Hugging Face `config.json`. */
function readLabels(dir: string, manifest: ModelManifest, location: string): string[] {
  if (manifest.labels) return manifest.labels;
  if (!manifest.config_file) {
    throw new ModelPackageError(
      `model package ${location} has neither labels nor a config_file with id2label`,
    );
  }
  let config: { id2label?: Record<string, string> };
  try {
    config = JSON.parse(
      readFileSync(packageFile(dir, manifest.config_file, location), 'utf8'),
    ) as typeof config;
  } catch (error) {
    throw new ModelPackageError(
      `${manifest.config_file} of ${location} is not valid JSON: ${String(error)}`,
    );
  }
  const entries = Object.entries(config.id2label ?? {});
  const labels: string[] = [];
  for (const [id, name] of entries) labels[Number(id)] = name;
  if (
    entries.length < 2 ||
    labels.length !== entries.length ||
    labels.some((l) => typeof l !== 'string')
  ) {
    throw new ModelPackageError(
      `${manifest.config_file} of ${location} needs an id2label with ids 0..n-1 (n >= 2)`,
    );
  }
  return labels;
}
