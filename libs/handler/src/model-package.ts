import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import {
  DEFAULT_MAX_ARCHIVE_BYTES,
  DEFAULT_MAX_ARCHIVE_ENTRIES,
  extractArchive,
  removeUnpacked,
} from './archive';
import { ModelPackageError } from './errors';
import type { DeviceChoice, Handler, HandlerContext } from './handler';
import {
  MANIFEST_FILE,
  TEXT_CLASSIFICATION,
  describeIssues,
  manifestSchema,
  type ModelManifest,
} from './manifest';
import { TextClassificationHandler } from './text-classification';

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
    return checkPackage(realpathSync(path), location, options, async () => undefined);
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
  return { dir, manifest, labels: readLabels(dir, manifest, location), release };
}

/**
 * The real path of a file the package names, checked: it exists and, once every symlink is
 * resolved, lies inside the package's (real) folder.
 */
function packageFile(dir: string, file: string, location: string): string {
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
    config = JSON.parse(readFileSync(packageFile(dir, manifest.config_file, location), 'utf8'));
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

export interface HandlerOptions {
  /** Run a handler module the package carries (default false): see `LoadOptions`. */
  readonly allowPackageCode?: boolean;
  readonly device?: DeviceChoice;
  readonly intraOpNumThreads?: number;
  readonly log?: (message: string) => void;
  /** Run one warm-up batch before returning (default true). */
  readonly warmup?: boolean;
}

/**
 * Creates the package's handler (built-in, or the JS module it names), initialises it and
 * warms it up. Any failure is a `ModelPackageError` that names the package.
 */
export async function createHandler(
  pkg: ModelPackage,
  options: HandlerOptions = {},
): Promise<Handler<unknown>> {
  const handler = instantiate(pkg, options.allowPackageCode ?? false);
  const context: HandlerContext = {
    modelDir: pkg.dir,
    manifest: pkg.manifest,
    labels: pkg.labels,
    device: options.device ?? 'auto',
    intraOpNumThreads: options.intraOpNumThreads ?? 0,
    log: options.log ?? ((message) => process.stderr.write(`${message}\n`)),
  };
  try {
    await handler.initialize(context);
    if (options.warmup !== false) await handler.warmup?.();
  } catch (error) {
    await handler.dispose().catch(() => undefined);
    if (error instanceof ModelPackageError) throw error;
    throw new ModelPackageError(
      `model ${pkg.manifest.name} ${pkg.manifest.version} failed to start: ${String(error)}`,
    );
  }
  return handler;
}

/** Loads a package and returns its ready handler: what the CLI, the worker and tests call. */
export async function openModel(
  location: string,
  options: HandlerOptions & LoadOptions = {},
): Promise<{ pkg: ModelPackage; handler: Handler<unknown> }> {
  const pkg = await loadModelPackage(location, options);
  try {
    return { pkg, handler: await createHandler(pkg, options) };
  } catch (error) {
    await pkg.release();
    throw error;
  }
}

type HandlerClass = new () => Handler<unknown>;

function instantiate(pkg: ModelPackage, allowPackageCode: boolean): Handler<unknown> {
  const name = pkg.manifest.handler;
  if (name === TEXT_CLASSIFICATION) return new TextClassificationHandler();
  const where = `${pkg.manifest.name} ${pkg.manifest.version}`;
  if (!allowPackageCode) {
    throw new ModelPackageError(
      `model ${where} has a handler module (${name}), and loading code from a package is off`,
    );
  }
  let exported: { default?: HandlerClass; Handler?: HandlerClass };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    exported = require(packageFile(pkg.dir, name, where));
  } catch (error) {
    throw new ModelPackageError(`handler module ${name} cannot be loaded: ${String(error)}`);
  }
  const HandlerCtor = exported.default ?? exported.Handler ?? (exported as unknown as HandlerClass);
  if (typeof HandlerCtor !== 'function') {
    throw new ModelPackageError(
      `handler module ${name} exports no handler class (default or "Handler")`,
    );
  }
  return new HandlerCtor();
}
