import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import {
  MANIFEST_FILE,
  TEXT_CLASSIFICATION,
  describeIssues,
  loadModelPackage,
  manifestSchema,
  writeArchive,
} from '@app/handler';

/** Options of `modelfleet archive`, the counterpart of torch-model-archiver. */
export interface ArchiveOptions {
  modelName: string;
  version: string;
  modelFile?: string;
  handler: string;
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

/**
 * Copies the named files into a staging folder with a generated manifest, packs it as
 * `<export-path>/<name>-<version>.tar.gz`, then loads the result to prove it is usable.
 */
export async function archiveCommand(options: ArchiveOptions): Promise<string> {
  const target = resolve(options.exportPath, `${options.modelName}-${options.version}.tar.gz`);
  if (existsSync(target) && !options.force) {
    throw new Error(`${target} already exists; pass --force to overwrite it`);
  }
  const sources: Record<string, string | undefined> = {
    model_file: options.modelFile,
    tokenizer_file: options.tokenizer,
    vocab_file: options.vocab,
    config_file: options.config,
  };
  const extras = options.extraFiles ? options.extraFiles.split(',').filter(Boolean) : [];
  if (options.handler !== TEXT_CLASSIFICATION) extras.push(options.handler);
  const files = [...Object.values(sources), ...extras].filter((f): f is string => Boolean(f));
  for (const file of files) {
    if (!existsSync(file)) throw new Error(`${file} does not exist`);
  }
  const raw = {
    name: options.modelName,
    version: options.version,
    handler:
      options.handler === TEXT_CLASSIFICATION ? TEXT_CLASSIFICATION : basename(options.handler),
    ...Object.fromEntries(
      Object.entries(sources)
        .filter(([, f]) => f)
        .map(([k, f]) => [k, basename(f!)]),
    ),
    extra_files: extras.filter((f) => f !== options.handler).map((f) => basename(f)),
    ...(options.labels ? { labels: options.labels.split(',') } : {}),
    ...(options.maxLength ? { max_length: Number(options.maxLength) } : {}),
    batching: batchingOf(options),
  };
  const manifest = manifestSchema.safeParse(raw);
  if (!manifest.success)
    throw new Error(`invalid archive options: ${describeIssues(manifest.error)}`);
  const staging = mkdtempSync(join(tmpdir(), 'modelfleet-archive-'));
  try {
    for (const file of files) copyFileSync(file, join(staging, basename(file)));
    writeFileSync(join(staging, MANIFEST_FILE), JSON.stringify(manifest.data, null, 2));
    mkdirSync(resolve(options.exportPath), { recursive: true });
    await writeArchive(target, staging, [MANIFEST_FILE, ...new Set(files.map((f) => basename(f)))]);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  // Checks the archive only: nothing of it runs here, so a handler module is accepted.
  const pkg = await loadModelPackage(target, { allowPackageCode: true });
  await pkg.release();
  return target;
}
