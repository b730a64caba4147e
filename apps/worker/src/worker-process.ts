import { hostname } from 'node:os';
import { QueueProgress, RedisOutageLog, type Logger, type RedisConnection } from '@app/common';
import { relativeToStore } from '@app/handler/package';
import { ModelRegistry, versionKey, type VersionRecord } from '@app/registry';
import type { WorkerConfig } from './config';
import type { ConsumerContext } from './consumer/consumer-context';
import { startVersionConsumer } from './consumer/start-version-consumer';
import type { VersionConsumer } from './consumer/version-consumer';
import { DeathWindow } from './faults/death-window';
import { LoadRetries, recordFingerprint } from './faults/load-retries';
import { chooseVersions } from './fleet-choice';
import { StartReporter } from './start-reporter';
import { WorkerMetrics } from './worker-metrics';

/** `{model, version}` of a `name@version` key (`@` occurs in neither). */
const labelsOf = (key: string) => {
  const [model, version] = key.split('@');
  return { model, version };
};

/**
 * One worker process in the fleet: keeps a consumer per model version it should serve,
 * follows the registry as versions come and go, and heartbeats what it serves. A version that
 * fails to load is tried again with backoff, and at once when its record changes; until it
 * loads, the failure and its reason stand in the registry and in metrics.
 */
export class WorkerProcess {
  private readonly consumers = new Map<string, VersionConsumer>();
  /** Consumers of versions no longer wanted, answering what is left in their queues. */
  private readonly draining = new Map<string, Promise<void>>();
  private readonly loadRetries: LoadRetries;
  private readonly context: ConsumerContext;
  private readonly startedAt = new Date().toISOString();
  private timers: NodeJS.Timeout[] = [];
  private reconciling?: Promise<void>;
  private beating?: Promise<void>;
  private beatAgain = false;
  private stopping = false;

  /** Where this worker's metrics are served, announced in its heartbeats. */
  metricsUrl?: string;

  constructor(
    private readonly redis: RedisConnection,
    private readonly config: WorkerConfig,
    private readonly logger: Logger,
    /** Told when the process should stop and exit non-zero (its threads die too often). */
    onFatal: (error: Error) => void,
    readonly metrics = new WorkerMetrics(),
    private readonly registry = new ModelRegistry(redis, config.KEY_PREFIX),
  ) {
    this.loadRetries = new LoadRetries(config.LOAD_RETRY_MS, config.LOAD_RETRY_MAX_MS);
    const redisErrors = new RedisOutageLog(logger).watch(redis);
    this.context = {
      connection: redis,
      config,
      logger,
      metrics,
      redisErrors,
      starts: new StartReporter(new QueueProgress(redis, config.KEY_PREFIX), (error) =>
        redisErrors.report(error, 'queue progress error'),
      ),
      deaths: new DeathWindow(config.THREAD_DEATH_LIMIT, config.THREAD_DEATH_WINDOW_MS),
      servingChanged: () => void this.heartbeat(),
      fatal: onFatal,
    };
  }

  async start(): Promise<void> {
    await this.reconcile();
    // Stopped while it started: no heartbeat (it has left the registry) and no timers.
    if (this.stopping) return;
    await this.heartbeat();
    if (this.stopping) return;
    this.timers = [
      setInterval(() => void this.reconcile(), this.config.REGISTRY_POLL_MS),
      setInterval(() => void this.heartbeat(), this.config.HEARTBEAT_MS),
    ];
  }

  /**
   * Undefined when Redis answers, at least one model version is served and no inference thread
   * is being restarted; else the reason.
   */
  async readiness(): Promise<string | undefined> {
    // Commands wait for a reconnect, so a probe must not: it answers within a second.
    if (this.redis.status !== 'ready') return `Redis is unreachable (${this.redis.status})`;
    const unanswered = new Promise<string>((done) =>
      setTimeout(() => done('Redis does not answer'), 1000).unref(),
    );
    const answer = this.redis.ping().then(
      () => undefined,
      (error: Error) => `Redis is unreachable: ${error.message}`,
    );
    const redisProblem = await Promise.race([answer, unanswered]);
    if (redisProblem) return redisProblem;
    const down = [...this.consumers].filter(([, c]) => c.down).map(([k, c]) => `${k}: ${c.down}`);
    if (down.length > 0) return down.join('; ');
    return this.consumers.size > 0 ? undefined : 'no model version loaded yet';
  }

  /** Versions this process serves now, as `name@version` (not those whose thread restarts). */
  get serving(): string[] {
    return [...this.consumers].filter(([, c]) => !c.down).map(([key]) => key);
  }

  /** Starts consumers for wanted versions it lacks and stops those no longer registered. */
  reconcile(): Promise<void> {
    this.reconciling ??= this.doReconcile()
      .catch((error) => this.logger.error({ err: error }, 'registry reconcile failed'))
      .finally(() => (this.reconciling = undefined));
    return this.reconciling;
  }

  private async doReconcile(): Promise<void> {
    if (this.stopping) return;
    const records = (await this.registry.listModels()).flatMap((m) => m.versions);
    const wanted = await this.wanted(records);
    for (const [key, consumer] of this.consumers) {
      if (wanted.has(key) || this.draining.has(key)) continue;
      this.logger.info({ version: key }, 'version no longer served here: draining its queue');
      this.draining.set(
        key,
        consumer
          .drainAndClose(this.config.DRAIN_QUIET_MS)
          .catch((error) => this.logger.error({ err: error, version: key }, 'drain failed'))
          .finally(() => {
            this.draining.delete(key);
            this.consumers.delete(key);
            this.metrics.throughput.remove(labelsOf(key));
          }),
      );
    }
    for (const key of this.loadRetries.keys()) if (!wanted.has(key)) await this.forgetFailure(key);
    for (const record of records) {
      const key = versionKey(record.name, record.version);
      if (!wanted.has(key) || this.consumers.has(key) || this.stopping) continue;
      if (this.loadRetries.due(key, recordFingerprint(record))) await this.load(record);
    }
  }

  /** Starts serving a version; on failure, records why and when to try again. */
  private async load(record: VersionRecord): Promise<void> {
    const key = versionKey(record.name, record.version);
    const labels = { model: record.name, version: record.version };
    try {
      this.consumers.set(key, await startVersionConsumer(record, this.context));
    } catch (error) {
      // Shown to management callers: no absolute path of the store (the log keeps the error whole).
      const reason = relativeToStore((error as Error).message, this.config.MODEL_STORE);
      const failure = this.loadRetries.failed(key, recordFingerprint(record), reason);
      this.metrics.loadFailures.set(labels, failure.failures);
      await this.registry
        .reportFailure(key, this.config.WORKER_ID, reason)
        .catch((e) => this.logger.error({ err: e }, 'cannot report a load failure'));
      const retryInMs = Math.round(failure.retryAt - performance.now());
      this.logger.error(
        { err: error, version: key, failures: failure.failures, retryInMs },
        'cannot serve model version: trying again after a backoff, or when its record changes',
      );
      return;
    }
    if (this.loadRetries.forget(key)) {
      await this.registry
        .clearFailure(key, this.config.WORKER_ID)
        .catch((e) => this.logger.error({ err: e }, 'cannot clear a load failure'));
    }
    this.metrics.loadFailures.set(labels, 0);
    await this.heartbeat();
  }

  /** A failing version no longer wanted here: its failure is no longer ours to report. */
  private async forgetFailure(key: string): Promise<void> {
    this.loadRetries.forget(key);
    this.metrics.loadFailures.remove(labelsOf(key));
    await this.registry.clearFailure(key, this.config.WORKER_ID);
  }

  /** The versions this process should serve, from WORKER_MODELS and, in `auto` mode, the fleet. */
  private async wanted(records: VersionRecord[]): Promise<Set<string>> {
    const list = this.config.WORKER_MODELS;
    const keys = records.map((r) => versionKey(r.name, r.version));
    if (list.includes('auto')) {
      const others = new Map<string, number>();
      for (const worker of await this.registry.liveWorkers()) {
        if (worker.id === this.config.WORKER_ID) continue;
        for (const key of worker.versions) others.set(key, (others.get(key) ?? 0) + 1);
      }
      const serving = new Set([...this.consumers.keys()].filter((k) => !this.draining.has(k)));
      return chooseVersions(records, serving, others, this.config.WORKER_MAX_VERSIONS);
    }
    return new Set(
      keys.filter(
        (key) => list.includes('*') || list.includes(key) || list.includes(key.split('@')[0]),
      ),
    );
  }

  /**
   * Sends a heartbeat now. One is in flight at most, and one more waits behind it: while Redis is
   * away, heartbeats do not pile up, and a change of what is served is never lost behind a stale one.
   */
  private heartbeat(): Promise<void> {
    if (this.beating) {
      this.beatAgain = true;
      return this.beating;
    }
    this.beating = this.beat().finally(() => {
      this.beating = undefined;
      if (this.beatAgain) {
        this.beatAgain = false;
        void this.heartbeat();
      }
    });
    return this.beating;
  }

  private async beat(): Promise<void> {
    if (this.stopping) return;
    const consumers = [...this.consumers.values()];
    const serving = this.serving;
    const throughput: Record<string, number> = {};
    for (const key of serving) {
      const rate = this.consumers.get(key)!.throughput.rate;
      if (rate === undefined) continue;
      throughput[key] = Math.round(rate * 10) / 10;
      this.metrics.throughput.set(labelsOf(key), rate);
    }
    await this.registry
      .heartbeat(
        {
          id: this.config.WORKER_ID,
          host: hostname(),
          pid: process.pid,
          device: consumers[0]?.runtime.provider ?? 'cpu',
          runtime: consumers[0]?.runtime,
          versions: serving,
          ...(this.metricsUrl ? { metricsUrl: this.metricsUrl } : {}),
          jobsInFlight: consumers.reduce((sum, c) => sum + c.jobsInFlight, 0),
          lastBatch: consumers.map((c) => c.lastBatch).find(Boolean),
          throughput,
          startedAt: this.startedAt,
        },
        this.config.WORKER_TTL_MS,
      )
      .catch((error) => this.logger.error({ err: error }, 'heartbeat failed'));
  }

  /** Stops taking jobs, finishes those in hand, and leaves the registry. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.timers.forEach(clearInterval);
    await this.reconciling;
    await Promise.all([...this.consumers.values()].map((c) => c.close()));
    await Promise.all(this.draining.values());
    this.consumers.clear();
    for (const key of this.loadRetries.keys()) await this.forgetFailure(key);
    await this.registry.removeWorker(this.config.WORKER_ID);
  }
}
