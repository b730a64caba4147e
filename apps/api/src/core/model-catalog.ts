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
  private workerCounts?: { at: number; counts: Map<string, number> };

  constructor(private readonly registry: ModelRegistry) {}

  /** The version a request goes to: the one named, else a pick from the traffic split or the default. */
  async resolve(model: string, version?: string): Promise<VersionRecord> {
    const now = Date.now();
    let cached = this.models.get(model);
    if (!cached || now - cached.at > CACHE_MS) {
      cached = { at: now, record: await this.registry.getModel(model) };
      this.models.set(model, cached);
    }
    return resolveIn(cached.record, version);
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
    const now = Date.now();
    if (!this.workerCounts || now - this.workerCounts.at > CACHE_MS) {
      this.workerCounts = { at: now, counts: await this.registry.workerCounts() };
    }
    if (!this.workerCounts.counts.get(versionKey(record.name, record.version))) {
      throw new Problem(
        503,
        'No worker',
        `no live worker serves ${record.name} version ${record.version}`,
        { model: record.name, version: record.version },
      );
    }
  }
}
