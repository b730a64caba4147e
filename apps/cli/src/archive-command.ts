import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import {
  MANIFEST_FILE,
  TEXT_CLASSIFICATION,
  describeIssues,
  loadModelPackage,
  manifestSchema,
  writeArchive,
  type ModelPackage,
} from '@app/handler';

/** Options of `modelfleet archive`, the counterpart of torch-model-archiver. */
export interface ArchiveOptions {
  /** A package (folder or archive) whose manifest and files the other options start from. */
  from?: string;
  modelName?: string;
  version: string;
  modelFile?: string;
  handler?: string;
  tokenizer?: string;
  vocab?: string;
  config?: string;
  labels?: string;
  extraFiles?: string;
  maxLength?: string;
  batchSize?: string;
  maxBatchTokens?: string;
  maxBatchDelay?: string;
  exportPath: string;
  force?: boolean;
}

/** A file of the package: its path inside it, and where it is copied from. */
interface PackageFile {
  path: string;
  source: string;
}

/** The manifest fields that name one file each. */
const FILE_FIELDS = ['model_file', 'tokenizer_file', 'vocab_file', 'config_file'] as const;

/** The manifest's batching limits from the options given (the schema fills the others in). */
function batchingOf(options: ArchiveOptions): Record<string, number> {
  const given: Record<string, string | undefined> = {
    max_batch_size: options.batchSize,
    max_batch_tokens: options.maxBatchTokens,
    max_batch_delay_ms: options.maxBatchDelay,
  };
  return Object.fromEntries(
    Object.entries(given)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, Number(v)]),
  );
}

/** A file given on the command line: at the package's root, under its own name. */
const given = (source: string): PackageFile => ({ path: basename(source), source });

/**
 * Copies the named files into a staging folder with a generated manifest, packs it as
 * `<export-path>/<name>-<version>.tar.gz`, then loads the result to prove it is usable. With
 * `from`, the manifest and files of that package are the starting point (every field but the
 * version, each file at its own path), and the other options replace what they name: the same
 * files and settings under another version make a package of the same content hash.
 */
export async function archiveCommand(options: ArchiveOptions): Promise<string> {
  // The package to start from, checked as the loader checks any (nothing of it runs here).
  const base = options.from
    ? await loadModelPackage(options.from, { allowPackageCode: true })
    : undefined;
  try {
    return await archive(options, base);
  } finally {
    await base?.release();
  }
}

async function archive(options: ArchiveOptions, base: ModelPackage | undefined): Promise<string> {
  const name = options.modelName ?? base?.manifest.name;
  if (!name) throw new Error('--model-name is required (or --from, a package to start from)');
  const target = resolve(options.exportPath, `${name}-${options.version}.tar.gz`);
  if (existsSync(target) && !options.force) {
    throw new Error(`${target} already exists; pass --force to overwrite it`);
  }
  const inBase = (path: string): PackageFile => ({ path, source: join(base!.dir, path) });
  const optionFiles: Record<(typeof FILE_FIELDS)[number], string | undefined> = {
    model_file: options.modelFile,
    tokenizer_file: options.tokenizer,
    vocab_file: options.vocab,
    config_file: options.config,
  };
  const named: Partial<Record<(typeof FILE_FIELDS)[number], PackageFile>> = {};
  for (const field of FILE_FIELDS) {
    const option = optionFiles[field];
    const inherited = base?.manifest[field];
    if (option) named[field] = given(option);
    else if (inherited) named[field] = inBase(inherited);
  }
  const extras = options.extraFiles
    ? options.extraFiles.split(',').filter(Boolean).map(given)
    : (base?.manifest.extra_files ?? []).map(inBase);
  const handlerName = options.handler ?? base?.manifest.handler ?? TEXT_CLASSIFICATION;
  const handler =
    handlerName === TEXT_CLASSIFICATION
      ? undefined
      : options.handler
        ? given(options.handler)
        : inBase(handlerName);
  const files = [...Object.values(named), ...extras, ...(handler ? [handler] : [])];
  for (const file of files) {
    if (!existsSync(file.source)) throw new Error(`${file.source} does not exist`);
  }
  const raw = {
    ...base?.manifest,
    name,
    version: options.version,
    handler: handler?.path ?? TEXT_CLASSIFICATION,
    ...Object.fromEntries(Object.entries(named).map(([field, file]) => [field, file.path])),
    extra_files: extras.map((f) => f.path),
    ...(options.labels ? { labels: options.labels.split(',') } : {}),
    ...(options.maxLength ? { max_length: Number(options.maxLength) } : {}),
    batching: { ...base?.manifest.batching, ...batchingOf(options) },
  };
  const manifest = manifestSchema.safeParse(raw);
  if (!manifest.success)
    throw new Error(`invalid archive options: ${describeIssues(manifest.error)}`);
  const staging = mkdtempSync(join(tmpdir(), 'modelfleet-archive-'));
  try {
    for (const file of files) {
      mkdirSync(dirname(join(staging, file.path)), { recursive: true });
      copyFileSync(file.source, join(staging, file.path));
    }
    writeFileSync(join(staging, MANIFEST_FILE), JSON.stringify(manifest.data, null, 2));
    mkdirSync(resolve(options.exportPath), { recursive: true });
    await writeArchive(target, staging, [MANIFEST_FILE, ...new Set(files.map((f) => f.path))]);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  // Checks the archive only: nothing of it runs here, so a handler module is accepted.
  const pkg = await loadModelPackage(target, { allowPackageCode: true });
  await pkg.release();
  return target;
}
