import { ModelPackageError } from './errors';
import type { DeviceChoice, Handler, HandlerContext } from './handler';
import { packingLimits, TEXT_CLASSIFICATION } from './manifest';
import {
  loadModelPackage,
  packageFile,
  type LoadOptions,
  type ModelPackage,
} from './model-package';
import type { PackingLimits } from './packing';
import { TextClassificationHandler } from './text-classification';

export interface HandlerOptions {
  /** Run a handler module the package carries (default false): see `LoadOptions`. */
  readonly allowPackageCode?: boolean;
  readonly device?: DeviceChoice;
  readonly intraOpNumThreads?: number;
  readonly log?: (message: string) => void;
  /** Run the warm-up passes before returning (default true). */
  readonly warmup?: boolean;
  /**
   * The packing limits the model will serve under (the registry's, which may override the
   * manifest's): warm-up runs the largest passes they allow. Default: the manifest's.
   */
  readonly limits?: PackingLimits;
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
    if (options.warmup !== false)
      await handler.warmup?.(options.limits ?? packingLimits(pkg.manifest.batching));
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
    exported = require(packageFile(pkg.dir, name, where)) as typeof exported;
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
