import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_MAX_ARCHIVE_BYTES, extractArchive } from './archive';
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
  readonly dir: string;
  readonly manifest: ModelManifest;
  readonly labels: readonly string[];
}

export interface LoadOptions {
  /** Largest archive accepted, packed or unpacked. */
  readonly maxArchiveBytes?: number;
  /** Where archives are unpacked (a folder per archive content hash). */
  readonly extractRoot?: string;
}

/**
 * Loads a model package from a folder or an archive file, and rejects it with an error naming
 * the problem: unreadable or invalid manifest, a named file that is missing, labels that
 * cannot be found. The graph itself is checked by the handler when it initialises.
 */
export async function loadModelPackage(
  location: string,
  options: LoadOptions = {},
): Promise<ModelPackage> {
  const path = resolve(location);
  if (!existsSync(path)) throw new ModelPackageError(`model package ${location} does not exist`);
  const dir = statSync(path).isDirectory()
    ? path
    : await extractArchive(
        path,
        options.maxArchiveBytes ?? DEFAULT_MAX_ARCHIVE_BYTES,
        options.extractRoot,
      );
  const manifest = readManifest(dir, location);
  const named = [
    manifest.model_file,
    manifest.tokenizer_file,
    manifest.vocab_file,
    manifest.config_file,
    ...manifest.extra_files,
    manifest.handler === TEXT_CLASSIFICATION ? undefined : manifest.handler,
  ];
  for (const file of named) {
    if (file && !existsSync(join(dir, file))) {
      throw new ModelPackageError(`model package ${location} lacks ${file}, named in its manifest`);
    }
  }
  return { dir, manifest, labels: readLabels(dir, manifest, location) };
}

function readManifest(dir: string, location: string): ModelManifest {
  const file = join(dir, MANIFEST_FILE);
  if (!existsSync(file))
    throw new ModelPackageError(`model package ${location} has no ${MANIFEST_FILE}`);
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
    config = JSON.parse(readFileSync(join(dir, manifest.config_file), 'utf8'));
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
