import { Injectable } from '@nestjs/common';
import { VersionQueues, type Backlog } from '@app/common';
import {
  ModelRegistry,
  versionKey,
  type ModelRecord,
  type ServingFailure,
  type VersionRecord,
  type WorkerRecord,
} from '@app/registry';
import { Problem } from '../core/problem';
import { ShadowService, type ShadowReport } from '../shadow/shadow.service';
import { ModelPackages } from './model-packages';
import { MAX_TRAFFIC_WEIGHT } from './model-limits';

/** One version as `GET /models/:name` describes it. */
export interface VersionDescription {
  modelName: string;
  modelVersion: string;
  modelUrl: string;
  isDefault: boolean;
  trafficWeight: number | null;
  minWorkers: number;
  maxWorkers: number;
  batchSize: number;
  maxBatchTokens: number;
  maxBatchDelay: number;
  registeredAt: string;
  /** Content hash of the package (see docs/provenance.md, The package hash). */
  packageSha256: string | null;
  /** Seconds answers stay in the version's result cache; 0: no cache. */
  cacheTtlS: number;
  /** READY: a live worker serves it; FAILED: none does, and some failed to load it; else NO_WORKERS. */
  status: 'READY' | 'NO_WORKERS' | 'FAILED';
  reason?: string;
  /** What stands in the way of serving it, as workers (or the API) reported, until it loads. */
  failures?: ServingFailure[];
  queue: Backlog;
  workers: WorkerRecord[];
  /** The model's shadow version and how its answers compare, while it has one. */
  shadow?: ShadowReport;
}

/** The story of the management API: describe, register, scale, switch and split versions. */
@Injectable()
export class ModelsService {
  constructor(
    private readonly registry: ModelRegistry,
    private readonly packages: ModelPackages,
    private readonly queues: VersionQueues,
    private readonly shadows: ShadowService,
  ) {}

  /**
   * Registered models, a page at a time as TorchServe pages them: `limit` models from the offset
   * `nextPageToken` names, with the token of the next page while there is one.
   */
  async list(limit: number, pageToken = 0) {
    const [models, failures] = await Promise.all([
      this.registry.listModels(),
      this.registry.failures(),
    ]);
    // Packages of the store the API could not register, each with why.
    const failedPackages = [...failures]
      .filter(([subject]) => subject.startsWith('package:'))
      .map(([subject, [failure]]) => ({
        location: subject.slice('package:'.length),
        reason: failure.reason,
        at: failure.at,
      }));
    const page = models.slice(pageToken, pageToken + limit);
    const next = pageToken + limit < models.length ? String(pageToken + limit) : undefined;
    return {
      ...(next ? { nextPageToken: next } : {}),
      ...(failedPackages.length ? { failedPackages } : {}),
      models: page.map((m) => ({
        modelName: m.name,
        defaultVersion: m.defaultVersion,
        versions: m.versions.map((v) => v.version),
        modelUrl: m.versions.find((v) => v.version === m.defaultVersion)?.location,
      })),
    };
  }

  async describe(name: string, version?: string): Promise<VersionDescription[]> {
    const model = await this.registry.getModel(name);
    const records = version ? [await this.registry.getVersion(name, version)] : model.versions;
    const [workers, failures, shadow] = await Promise.all([
      this.registry.liveWorkers(),
      this.registry.failures(),
      this.shadows.report(model),
    ]);
    const described = await Promise.all(
      records.map((record) => this.describeVersion(model, record, workers, failures)),
    );
    return shadow ? described.map((d) => ({ ...d, shadow })) : described;
  }

  private async describeVersion(
    model: ModelRecord,
    record: VersionRecord,
    workers: WorkerRecord[],
    allFailures: Map<string, ServingFailure[]>,
  ): Promise<VersionDescription> {
    const key = versionKey(record.name, record.version);
    const serving = workers.filter((w) => w.versions.includes(key));
    const failures = allFailures.get(key) ?? [];
    const queue = await this.queues.backlog(record.name, record.version);
    const batching = record.manifest.batching;
    return {
      modelName: record.name,
      modelVersion: record.version,
      modelUrl: record.location,
      isDefault: model.defaultVersion === record.version,
      trafficWeight: model.traffic[record.version] ?? null,
      minWorkers: record.minWorkers,
      maxWorkers: record.maxWorkers,
      batchSize: batching.max_batch_size,
      maxBatchTokens: batching.max_batch_tokens,
      maxBatchDelay: batching.max_batch_delay_ms,
      registeredAt: record.registeredAt,
      packageSha256: record.packageSha256 ?? null,
      cacheTtlS: record.cacheTtlS ?? 0,
      ...servingStatus(serving.length, failures),
      queue,
      workers: serving,
    };
  }

  /** Registers a package of the model store, with optional batching and worker overrides. */
  async register(params: {
    url: string;
    initialWorkers?: number;
    batchSize?: number;
    maxBatchDelay?: number;
    cacheTtlS?: number;
  }) {
    let record: VersionRecord;
    try {
      record = await this.packages.register(
        params.url,
        { min: params.initialWorkers },
        {
          max_batch_size: params.batchSize,
          max_batch_delay_ms: params.maxBatchDelay,
        },
        { cacheTtlS: params.cacheTtlS },
      );
    } catch (error) {
      if (error instanceof Problem) throw error;
      throw new Problem(400, 'Cannot register model', (error as Error).message);
    }
    return { status: `Model "${record.name}" Version: ${record.version} registered`, ...record };
  }

  /**
   * Sets the desired worker range of a version (the default version when none is named). As in
   * TorchServe, it goes on asynchronously (`done: false`, answered 202), unless `synchronousS`
   * says how long to wait for the live workers to come within the range (200 once they do).
   */
  async scale(
    name: string,
    version: string | undefined,
    range: { min?: number; max?: number },
    synchronousS?: number,
  ): Promise<{ done: boolean; status: string }> {
    const model = await this.registry.getModel(name);
    const target = await this.registry.getVersion(
      name,
      version ?? model.defaultVersion ?? model.versions[0].version,
    );
    const minWorkers = range.min ?? target.minWorkers;
    const maxWorkers = range.max ?? Math.max(minWorkers, target.maxWorkers);
    if (minWorkers < 0 || maxWorkers < minWorkers) {
      throw new Problem(
        400,
        'Invalid worker range',
        `min_worker (${minWorkers}) must be >= 0 and <= max_worker (${maxWorkers})`,
      );
    }
    await this.registry.setWorkerRange(name, target.version, minWorkers, maxWorkers);
    const key = versionKey(name, target.version);
    const deadline = Date.now() + (synchronousS ?? 0) * 1000;
    for (;;) {
      const live = (await this.registry.workerCounts()).get(key) ?? 0;
      if (synchronousS !== undefined && live >= minWorkers && live <= maxWorkers) {
        return { done: true, status: `Workers scaled to ${live} for model: ${name}` };
      }
      if (Date.now() >= deadline) return { done: false, status: 'Processing worker updates...' };
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async setDefault(name: string, version: string) {
    await this.registry.setDefault(name, version);
    return { status: `Default version of "${name}" set to ${version}` };
  }

  /** Unregisters a version; the default may go only when it is the model's last version. */
  async unregister(name: string, version: string) {
    const model = await this.registry.getModel(name);
    await this.registry.getVersion(name, version);
    if (model.defaultVersion === version && model.versions.length > 1) {
      throw new Problem(
        409,
        'Default version',
        `version ${version} is the default of "${name}"; set another default first`,
      );
    }
    await this.registry.unregisterVersion(name, version);
    return { status: `Model "${name}" version ${version} unregistered` };
  }

  async setTraffic(name: string, weights: unknown) {
    if (!weights || typeof weights !== 'object' || Array.isArray(weights)) {
      throw new Problem(
        400,
        'Invalid traffic split',
        'the body must map versions to weights, e.g. {"1": 90, "2": 10}',
      );
    }
    const entries = Object.entries(weights as Record<string, unknown>);
    const bad = entries.filter(
      ([, w]) => typeof w !== 'number' || !(w >= 0 && w <= MAX_TRAFFIC_WEIGHT),
    );
    if (bad.length) {
      throw new Problem(
        400,
        'Invalid traffic split',
        `weights must be numbers from 0 to ${MAX_TRAFFIC_WEIGHT}: ${bad.map(([v]) => v).join(', ')}`,
      );
    }
    if (entries.length && !entries.some(([, w]) => (w as number) > 0)) {
      throw new Problem(
        400,
        'Invalid traffic split',
        'at least one weight must be above 0 (an empty split, {}, sends every call to the default)',
      );
    }
    await this.registry.setTraffic(name, Object.fromEntries(entries) as Record<string, number>);
    return { modelName: name, traffic: (await this.registry.getModel(name)).traffic };
  }
}

/** Whether a version is served, and if not, why. */
function servingStatus(
  serving: number,
  failures: ServingFailure[],
): Pick<VersionDescription, 'status' | 'reason' | 'failures'> {
  const reported = failures.length ? { failures } : {};
  if (serving > 0) return { status: 'READY', ...reported };
  if (failures.length) {
    const reason = failures.map((f) => `${f.source}: ${f.reason}`).join('; ');
    return { status: 'FAILED', reason, ...reported };
  }
  return {
    status: 'NO_WORKERS',
    reason: 'no live worker serves this version: async jobs wait in its queue, sync calls get 503',
  };
}
