import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { Logger } from '@app/common';
import { ModelRegistry, versionKey, type VersionRecord } from '@app/registry';
import type { WorkerConfig } from './config';
import { chooseVersions } from './fleet-choice';
import { VersionConsumer } from './version-consumer';
import { WorkerMetrics } from './worker-metrics';

/**
 * One worker process in the fleet: keeps a consumer per model version it should serve,
 * follows the registry as versions come and go, and heartbeats what it serves.
 */
export class WorkerProcess {
  private readonly consumers = new Map<string, VersionConsumer>();
  /** Consumers of versions no longer wanted, answering what is left in their queues. */
  private readonly draining = new Map<string, Promise<void>>();
  private readonly failed = new Set<string>();
  private readonly startedAt = new Date().toISOString();
  private timers: NodeJS.Timeout[] = [];
  private reconciling?: Promise<void>;
  private stopping = false;

  constructor(
    private readonly redis: Redis,
    private readonly config: WorkerConfig,
    private readonly logger: Logger,
    readonly metrics = new WorkerMetrics(),
    private readonly registry = new ModelRegistry(redis, config.KEY_PREFIX),
  ) {}

  async start(): Promise<void> {
    await this.reconcile();
    await this.heartbeat();
    this.timers = [
      setInterval(() => void this.reconcile(), this.config.REGISTRY_POLL_MS),
      setInterval(() => void this.heartbeat(), this.config.HEARTBEAT_MS),
    ];
  }

  /** Undefined when Redis answers and at least one model version is loaded; else the reason. */
  async readiness(): Promise<string | undefined> {
    try {
      await this.redis.ping();
    } catch (error) {
      return `Redis is unreachable: ${(error as Error).message}`;
    }
    return this.consumers.size > 0 ? undefined : 'no model version loaded yet';
  }

  /** Versions this process serves, as `name@version`. */
  get serving(): string[] {
    return [...this.consumers.keys()];
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
          }),
      );
    }
    for (const record of records) {
      const key = versionKey(record.name, record.version);
      if (!wanted.has(key) || this.consumers.has(key) || this.failed.has(key) || this.stopping)
        continue;
      try {
        this.consumers.set(
          key,
          await VersionConsumer.start(record, this.redis, this.config, this.logger, this.metrics),
        );
        await this.heartbeat();
      } catch (error) {
        // A package that will not load stays failed for this process's life; say so once.
        this.failed.add(key);
        this.logger.error({ err: error, version: key }, 'cannot serve model version');
      }
    }
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

  private async heartbeat(): Promise<void> {
    if (this.stopping) return;
    const consumers = [...this.consumers.values()];
    const last = consumers.map((c) => c.lastBatch).find(Boolean);
    await this.registry
      .heartbeat(
        {
          id: this.config.WORKER_ID,
          host: hostname(),
          pid: process.pid,
          device: consumers[0]?.runtime.provider ?? 'cpu',
          runtime: consumers[0]?.runtime,
          versions: this.serving,
          jobsInFlight: consumers.reduce((sum, c) => sum + c.jobsInFlight, 0),
          lastBatch: last,
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
    await this.registry.removeWorker(this.config.WORKER_ID);
  }
}
