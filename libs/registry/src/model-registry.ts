import type { RedisConnection } from '@app/common';
import { pickVersion, type TrafficWeights } from './traffic';
import {
  type ModelRecord,
  type ServingFailure,
  type ShadowSetting,
  type UnregisteredVersion,
  type VersionRecord,
  type WorkerRecord,
  versionKey,
} from './records';

/** How many model names a "not registered" error lists at most. */
const MODELS_NAMED = 20;

/** The registry knows no such model or version. */
export class UnknownModelError extends Error {
  override readonly name = 'UnknownModelError';
}

/**
 * Model versions, default versions, traffic splits and live workers, kept in Redis.
 * This class is the only code that knows the registry's keys.
 */
export class ModelRegistry {
  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix = 'mf',
  ) {}

  /**
   * Every key shares the hash tag `{registry}`: on a Redis Cluster they hash to one slot, so the
   * transactions and multi-key commands below never span slots.
   */
  private key(...parts: string[]): string {
    return [this.prefix, '{registry}', ...parts].join(':');
  }

  /**
   * Registers (or replaces) a version; the first version of a model becomes its default. A
   * registration clears the mark an earlier unregistration left (see {@link unregisteredVersion}).
   */
  async registerVersion(record: VersionRecord): Promise<void> {
    await this.redis
      .multi()
      .hdel(this.key('unregistered'), versionKey(record.name, record.version))
      .sadd(this.key('models'), record.name)
      .hset(this.key('model', record.name, 'versions'), record.version, JSON.stringify(record))
      .hsetnx(this.key('model', record.name), 'default', record.version)
      .exec();
  }

  /**
   * Removes a version; when it was the default, another version (if any) takes its place, and
   * when it was the shadow, the model has none any more. The removal is remembered (see
   * {@link unregisteredVersion}) until the version is registered again.
   */
  async unregisterVersion(name: string, version: string): Promise<void> {
    const record = await this.getVersion(name, version);
    const mark: UnregisteredVersion = { location: record.location, at: new Date().toISOString() };
    await this.redis
      .multi()
      .hdel(this.key('model', name, 'versions'), version)
      .hset(this.key('unregistered'), versionKey(name, version), JSON.stringify(mark))
      .exec();
    const model = await this.getModel(name).catch(() => undefined);
    const weights = { ...(model?.traffic ?? {}) };
    delete weights[version];
    const pipeline = this.redis
      .multi()
      .hset(this.key('model', name), 'traffic', JSON.stringify(weights));
    if (!model || model.versions.length === 0) {
      pipeline.del(this.key('model', name)).srem(this.key('models'), name);
    } else if (model.defaultVersion === version) {
      pipeline.hset(this.key('model', name), 'default', model.versions[0].version);
    }
    if (model?.shadow?.version === version) pipeline.hdel(this.key('model', name), 'shadow');
    await pipeline.exec();
  }

  /**
   * When and from where a version was unregistered, while it has not been registered again: the
   * operator's decision, which registering the model store at start respects.
   */
  async unregisteredVersion(
    name: string,
    version: string,
  ): Promise<UnregisteredVersion | undefined> {
    const raw = await this.redis.hget(this.key('unregistered'), versionKey(name, version));
    return raw ? (JSON.parse(raw) as UnregisteredVersion) : undefined;
  }

  /**
   * Every version unregistered and not registered again, with its mark: the versions whose
   * queues no worker takes from once drained (see the API's RetiredVersions).
   */
  async unregisteredVersions(): Promise<
    { name: string; version: string; mark: UnregisteredVersion }[]
  > {
    const marks = await this.redis.hgetall(this.key('unregistered'));
    return Object.entries(marks).map(([key, raw]) => {
      const at = key.lastIndexOf('@');
      const mark = JSON.parse(raw) as UnregisteredVersion;
      return { name: key.slice(0, at), version: key.slice(at + 1), mark };
    });
  }

  async listModels(): Promise<ModelRecord[]> {
    const names = (await this.redis.smembers(this.key('models'))).sort();
    return Promise.all(names.map((name) => this.getModel(name)));
  }

  async getModel(name: string): Promise<ModelRecord> {
    const [meta, versions] = await Promise.all([
      this.redis.hgetall(this.key('model', name)),
      this.redis.hvals(this.key('model', name, 'versions')),
    ]);
    if (versions.length === 0) throw new UnknownModelError(await this.unknownModel(name));
    const records = versions.map((v) => JSON.parse(v) as VersionRecord);
    records.sort((a, b) => a.registeredAt.localeCompare(b.registeredAt));
    return {
      name,
      defaultVersion: meta.default,
      traffic: meta.traffic ? (JSON.parse(meta.traffic) as TrafficWeights) : {},
      ...(meta.shadow ? { shadow: JSON.parse(meta.shadow) as ShadowSetting } : {}),
      versions: records,
    };
  }

  /** Why `name` is unknown, with the models there are (a caller's typo shows at once). */
  private async unknownModel(name: string): Promise<string> {
    const names = (await this.redis.smembers(this.key('models'))).sort();
    const shown = names.slice(0, MODELS_NAMED);
    const more = names.length > shown.length ? ` and ${names.length - shown.length} more` : '';
    const known = names.length
      ? `registered models: ${shown.map((n) => `"${n}"`).join(', ')}${more}`
      : 'no model is registered';
    return `model "${name}" is not registered; ${known}`;
  }

  async getVersion(name: string, version: string): Promise<VersionRecord> {
    const raw = await this.redis.hget(this.key('model', name, 'versions'), version);
    if (!raw) {
      await this.getModel(name);
      throw new UnknownModelError(`model "${name}" has no version "${version}"`);
    }
    return JSON.parse(raw) as VersionRecord;
  }

  async setDefault(name: string, version: string): Promise<void> {
    await this.getVersion(name, version);
    await this.redis.hset(this.key('model', name), 'default', version);
  }

  /** Sets the traffic split; an empty split sends everything to the default version. */
  async setTraffic(name: string, weights: TrafficWeights): Promise<void> {
    // The model first: an empty split names no version to check, and must not create the model.
    await this.getModel(name);
    for (const version of Object.keys(weights)) await this.getVersion(name, version);
    await this.redis.hset(this.key('model', name), 'traffic', JSON.stringify(weights));
  }

  /** Makes a registered version the model's shadow (replacing any other). */
  async setShadow(name: string, shadow: ShadowSetting): Promise<void> {
    await this.getVersion(name, shadow.version);
    await this.redis.hset(this.key('model', name), 'shadow', JSON.stringify(shadow));
  }

  /** Stops shadowing the model's traffic; true when it had a shadow. */
  async clearShadow(name: string): Promise<boolean> {
    await this.getModel(name);
    return (await this.redis.hdel(this.key('model', name), 'shadow')) > 0;
  }

  /** Updates the desired worker range of a version. */
  async setWorkerRange(
    name: string,
    version: string,
    minWorkers: number,
    maxWorkers: number,
  ): Promise<void> {
    const record = await this.getVersion(name, version);
    await this.redis.hset(
      this.key('model', name, 'versions'),
      version,
      JSON.stringify({ ...record, minWorkers, maxWorkers }),
    );
  }

  /** Records a worker as alive for `ttlMs`. */
  async heartbeat(worker: WorkerRecord, ttlMs: number): Promise<void> {
    const now = Date.now();
    await this.redis
      .multi()
      .set(this.key('worker', worker.id), JSON.stringify({ ...worker, seenAt: now }), 'PX', ttlMs)
      .zadd(this.key('workers'), now, worker.id)
      .exec();
  }

  async removeWorker(id: string): Promise<void> {
    await this.redis.multi().del(this.key('worker', id)).zrem(this.key('workers'), id).exec();
  }

  /** Workers whose last heartbeat is younger than their time to live; stale ones are dropped. */
  async liveWorkers(): Promise<WorkerRecord[]> {
    const ids = await this.redis.zrange(this.key('workers'), 0, -1);
    if (ids.length === 0) return [];
    const values = await this.redis.mget(ids.map((id) => this.key('worker', id)));
    const stale = ids.filter((_, i) => values[i] === null);
    if (stale.length) await this.redis.zrem(this.key('workers'), ...stale);
    return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as WorkerRecord);
  }

  /**
   * Records why `subject` (a `name@version`, or `package:<location>` for a package of the store)
   * cannot be served, as `source` (a worker id, or `api`) found. It stays until that source
   * clears it, or, for a worker, until the worker is no longer alive.
   */
  async reportFailure(subject: string, source: string, reason: string): Promise<void> {
    const failure: ServingFailure = { source, reason, at: new Date().toISOString() };
    await this.redis
      .multi()
      .hset(this.key('failures', subject), source, JSON.stringify(failure))
      .sadd(this.key('failures'), subject)
      .exec();
  }

  async clearFailure(subject: string, source: string): Promise<void> {
    await this.redis.hdel(this.key('failures', subject), source);
  }

  /** Failures standing, per subject: those of the API, and of workers still alive. */
  async failures(): Promise<Map<string, ServingFailure[]>> {
    const subjects = await this.redis.smembers(this.key('failures'));
    if (subjects.length === 0) return new Map();
    const live = new Set((await this.liveWorkers()).map((w) => w.id));
    const result = new Map<string, ServingFailure[]>();
    for (const subject of subjects) {
      const raw = await this.redis.hvals(this.key('failures', subject));
      const standing = raw
        .map((v) => JSON.parse(v) as ServingFailure)
        .filter((f) => f.source === 'api' || live.has(f.source));
      if (standing.length) result.set(subject, standing);
      else if (raw.length === 0) await this.redis.srem(this.key('failures'), subject);
    }
    return result;
  }

  /** Live worker count per `name@version`. */
  async workerCounts(): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const worker of await this.liveWorkers()) {
      for (const key of worker.versions) counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return counts;
  }

  /**
   * Undefined when every model's default version has a live worker, else why not: what the
   * API's `/ping` reports, and what `modelfleet serve` waits for before it says it is ready.
   */
  async servingProblem(): Promise<string | undefined> {
    const models = await this.listModels();
    if (models.length === 0) return 'no model is registered';
    const counts = await this.workerCounts();
    const unserved = models
      .filter((m) => !counts.get(versionKey(m.name, m.defaultVersion ?? '')))
      .map((m) => `${m.name} ${m.defaultVersion}`);
    return unserved.length
      ? `no live worker serves the default version of: ${unserved.join(', ')}`
      : undefined;
  }
}

/**
 * Picks, within a model record, the version a request should go to: the one asked for, else
 * a weighted pick from the traffic split, else the default. Pure: callers may cache records.
 */
export function resolveIn(
  model: ModelRecord,
  version?: string,
  random = Math.random(),
): VersionRecord {
  const wanted =
    version ??
    pickVersion(model.traffic, random) ??
    model.defaultVersion ??
    model.versions[0].version;
  const record = model.versions.find((v) => v.version === wanted);
  if (!record) throw new UnknownModelError(`model "${model.name}" has no version "${wanted}"`);
  return record;
}
