import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import {
  MANIFEST_FILE,
  ModelPackageError,
  loadModelPackage,
  packageSha256,
  relativeToStore,
  type ModelManifest,
} from '@app/handler/package';
import { ModelRegistry, packageSubject, versionKey, type VersionRecord } from '@app/registry';
import { API_CONFIG, type ApiConfig } from '../config';
import { Problem } from '../core/problem';

/** Packages in the configured model store, and their registration. */
@Injectable()
export class ModelPackages {
  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly registry: ModelRegistry,
    private readonly logger: PinoLogger,
  ) {}

  /** Package folders and archives in the store. */
  list(): string[] {
    const store = resolve(this.config.MODEL_STORE);
    if (!existsSync(store)) return [];
    return readdirSync(store, { withFileTypes: true })
      .filter((e) =>
        e.isDirectory()
          ? existsSync(join(store, e.name, MANIFEST_FILE))
          : /\.(tar\.gz|tgz|tar)$/.test(e.name),
      )
      .map((e) => e.name)
      .sort();
  }

  /**
   * Validates a package of the store and registers its version. `location` must name an entry
   * of the store itself: no other path and no URL is accepted.
   */
  async register(
    location: string,
    workers: { min?: number; max?: number } = {},
    batching: Partial<ModelManifest['batching']> = {},
    /**
     * `replace`: replace a registered version (at start, so a moved package is found again);
     * else 409. `cacheTtlS`: the version's result cache (default: as registered, else off).
     * `keepUnregistered`: a version the operator unregistered stays so ({@link StillUnregistered}).
     */
    options: { replace?: boolean; cacheTtlS?: number; keepUnregistered?: boolean } = {},
  ): Promise<VersionRecord> {
    if (!this.list().includes(location)) {
      throw new Error(`"${location}" is not a package in the model store`);
    }
    const pkg = await this.read(location);
    const { name, version } = pkg.manifest;
    if (options.keepUnregistered) {
      const unregistered = await this.registry.unregisteredVersion(name, version);
      if (unregistered) throw new StillUnregistered(name, version, unregistered.at);
    }
    const existing = await this.registry.getVersion(name, version).catch(() => undefined);
    if (existing && !options.replace) {
      throw new Problem(409, 'Already registered', `${name} version ${version} is registered`, {
        modelName: name,
        modelVersion: version,
      });
    }
    const minWorkers = workers.min ?? existing?.minWorkers ?? 1;
    const record: VersionRecord = {
      name,
      version,
      location,
      labels: [...pkg.labels],
      manifest: { ...pkg.manifest, batching: { ...pkg.manifest.batching, ...defined(batching) } },
      registeredAt: existing?.registeredAt ?? new Date().toISOString(),
      minWorkers,
      maxWorkers: workers.max ?? existing?.maxWorkers ?? Math.max(1, minWorkers),
      packageSha256: pkg.sha256,
      cacheTtlS: options.cacheTtlS ?? existing?.cacheTtlS ?? 0,
    };
    await this.registry.registerVersion(record);
    await this.registry.clearFailure(packageSubject(location), 'api');
    await this.registry.clearFailure(versionKey(name, version), 'api');
    return record;
  }

  /**
   * A package of the store checked and hashed; only the manifest, labels and content hash are
   * kept (an archive's unpacked files go at once). Its errors name paths relative to the store.
   */
  private async read(
    location: string,
  ): Promise<{ manifest: ModelManifest; labels: readonly string[]; sha256: string }> {
    const store = this.config.MODEL_STORE;
    try {
      const pkg = await loadModelPackage(join(resolve(store), location), {
        maxArchiveBytes: this.config.MAX_ARCHIVE_BYTES,
        maxArchiveEntries: this.config.MAX_ARCHIVE_ENTRIES,
        allowPackageCode: this.config.ALLOW_PACKAGE_CODE,
      });
      try {
        const sha256 = await packageSha256(pkg.dir, pkg.manifest, location);
        return { manifest: pkg.manifest, labels: pkg.labels, sha256 };
      } finally {
        await pkg.release();
      }
    } catch (error) {
      throw new ModelPackageError(relativeToStore((error as Error).message, store));
    }
  }

  /**
   * Registers the packages named by the MODELS setting (or all of them) at start, but for the
   * versions the operator unregistered (`DELETE /models/:name/:version`): those stay unregistered
   * until `POST /models` registers them again. A package that cannot be registered is logged,
   * skipped and recorded as a failure with its reason, so the others serve; a registered version
   * whose package left the store is recorded as failed too.
   */
  async registerConfigured(): Promise<void> {
    const wanted = this.config.MODELS.includes('*') ? this.list() : this.config.MODELS;
    for (const location of wanted) {
      try {
        const record = await this.register(
          location,
          {},
          {},
          { replace: true, keepUnregistered: true },
        );
        this.logger.info(
          { model: record.name, version: record.version, location },
          'registered model version',
        );
      } catch (error) {
        if (error instanceof StillUnregistered) {
          this.logger.info(
            {
              model: error.modelName,
              version: error.modelVersion,
              location,
              reason: error.message,
            },
            'left a package of the store unregistered',
          );
          await this.registry.clearFailure(packageSubject(location), 'api');
          continue;
        }
        const reason = (error as Error).message;
        this.logger.error({ location, reason }, 'cannot register a package of the store; skipped');
        await this.registry.reportFailure(packageSubject(location), 'api', reason);
      }
    }
    await this.reconcile();
  }

  /** Marks registered versions whose package is no longer in the store as failed, and clears the mark of those whose package is. */
  private async reconcile(): Promise<void> {
    const present = new Set(this.list());
    for (const model of await this.registry.listModels()) {
      for (const v of model.versions) {
        const subject = versionKey(v.name, v.version);
        if (present.has(v.location)) await this.registry.clearFailure(subject, 'api');
        else {
          const reason = `package "${v.location}" is not in the model store (MODEL_STORE)`;
          this.logger.warn(
            { model: v.name, version: v.version, reason },
            'registered version has no package',
          );
          await this.registry.reportFailure(subject, 'api', reason);
        }
      }
    }
  }
}

/** A package of the store whose version the operator unregistered: not registered at start. */
export class StillUnregistered extends Error {
  override readonly name = 'StillUnregistered';

  constructor(
    readonly modelName: string,
    readonly modelVersion: string,
    at: string,
  ) {
    super(
      `${modelName} version ${modelVersion} was unregistered (DELETE /models/${modelName}/${modelVersion}) at ${at}; POST /models registers it again`,
    );
  }
}

/** The entries of an object whose value is not undefined. */
function defined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
