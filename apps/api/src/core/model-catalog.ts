import {
  ModelRegistry,
  UnknownModelError,
  resolveIn,
  versionKey,
  type ModelRecord,
  type ShadowSetting,
  type VersionRecord,
} from '@app/registry';

/** How long a registry read is reused: registry changes reach every API replica within this. */
const CACHE_MS = 1000;

/** Where a request goes, resolved once per request and passed on to whatever needs it. */
export interface ResolvedVersion {
  record: VersionRecord;
  /** The model's shadow when the request was resolved, if it has one. */
  shadow?: ShadowSetting;
}

/** What the live workers of a version report. */
export interface LiveVersion {
  /** Live workers that serve it. */
  workers: number;
  /** Texts per second they report answering, summed; 0 if unknown. */
  textsPerSecond: number;
}

/**
 * The registry as request handling reads it: which version a request goes to, and what the live
 * workers of a version report, from reads cached for up to a second (one Redis round trip a
 * second per model, not one per request).
 */
export class ModelCatalog {
  private readonly models = new Map<string, { at: number; record: ModelRecord }>();
  private fleet?: { at: number; counts: Map<string, number>; throughput: Map<string, number> };

  constructor(private readonly registry: ModelRegistry) {}

  /**
   * The version a request goes to (the one named, else a pick from the traffic split or the
   * default), with its model's shadow.
   */
  async resolve(model: string, version?: string): Promise<ResolvedVersion> {
    const record = await this.model(model);
    return { record: resolveIn(record, version), shadow: record.shadow };
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

  /** What the live workers of the version report (from the cached fleet view). */
  async live(record: Pick<VersionRecord, 'name' | 'version'>): Promise<LiveVersion> {
    const fleet = await this.liveFleet();
    const key = versionKey(record.name, record.version);
    return { workers: fleet.counts.get(key) ?? 0, textsPerSecond: fleet.throughput.get(key) ?? 0 };
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

  /**
   * True when the version is registered, or was unregistered and not registered again: its
   * queues keep its jobs until they expire (see RetiredVersions). Reads only, for any name.
   */
  async hasOrHad(model: string, version: string): Promise<boolean> {
    if (await this.has(model, version)) return true;
    return Boolean(await this.registry.unregisteredVersion(model, version));
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
