import {
  ModelRegistry,
  UnknownModelError,
  resolveIn,
  versionKey,
  type ModelRecord,
  type VersionRecord,
} from '@app/registry';
import { Problem } from './problem';

/** How long a registry read is reused: registry changes reach every API replica within this. */
const CACHE_MS = 1000;

/**
 * The registry as request handling reads it: which version a request goes to, and whether a
 * live worker serves it, from reads cached for up to a second (one Redis round trip a second
 * per model, not one per request).
 */
export class ModelCatalog {
  private readonly models = new Map<string, { at: number; record: ModelRecord }>();
  private fleet?: { at: number; counts: Map<string, number>; throughput: Map<string, number> };

  constructor(private readonly registry: ModelRegistry) {}

  /** The version a request goes to: the one named, else a pick from the traffic split or the default. */
  async resolve(model: string, version?: string): Promise<VersionRecord> {
    return resolveIn(await this.model(model), version);
  }

  /** The model's record (versions, default, split); `UnknownModelError` for an unknown name. */
  async model(name: string): Promise<ModelRecord> {
    const now = Date.now();
    let cached = this.models.get(name);
    if (!cached || now - cached.at > CACHE_MS) {
      cached = { at: now, record: await this.registry.getModel(name) };
      this.models.set(name, cached);
    }
    return cached.record;
  }

  /** True when a live worker serves the version (from the cached fleet view). */
  async served(record: VersionRecord): Promise<boolean> {
    return Boolean((await this.liveFleet()).counts.get(versionKey(record.name, record.version)));
  }

  /** True when the version is registered; reads only, and writes nothing, for any name. */
  async has(model: string, version: string): Promise<boolean> {
    return this.resolve(model, version).then(
      () => true,
      (error: unknown) => {
        if (error instanceof UnknownModelError) return false;
        throw error;
      },
    );
  }

  /** Fails with 503 when no live worker serves the version, so a sync caller does not hang. */
  async assertServed(record: VersionRecord): Promise<void> {
    if (!(await this.served(record))) {
      throw new Problem(
        503,
        'No worker',
        `no live worker serves ${record.name} version ${record.version}`,
        { model: record.name, version: record.version },
      );
    }
  }

  /** Texts per second the live workers of a version report answering, summed; 0 if unknown. */
  async throughput(record: Pick<VersionRecord, 'name' | 'version'>): Promise<number> {
    return (await this.liveFleet()).throughput.get(versionKey(record.name, record.version)) ?? 0;
  }

  private async liveFleet() {
    const now = Date.now();
    if (!this.fleet || now - this.fleet.at > CACHE_MS) {
      const counts = new Map<string, number>();
      const throughput = new Map<string, number>();
      for (const worker of await this.registry.liveWorkers()) {
        for (const key of worker.versions) counts.set(key, (counts.get(key) ?? 0) + 1);
        for (const [key, rate] of Object.entries(worker.throughput ?? {}))
          throughput.set(key, (throughput.get(key) ?? 0) + rate);
      }
      this.fleet = { at: now, counts, throughput };
    }
    return this.fleet;
  }
}
