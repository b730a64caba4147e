import { spawn, type ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { VersionQueues, type Logger } from '@app/common';
import { ModelRegistry, versionKey, type VersionRecord } from '@app/registry';
import { desiredWorkers, type ScalingPolicy } from './scaling';

/** Compiled entry of an app, from this file's place in dist/apps/cli/src/serve. */
export const appEntry = (app: 'api' | 'worker') =>
  join(__dirname, '..', '..', '..', app, 'src', 'main.js');

interface VersionState {
  workers: ChildProcess[];
  lastChangeAt: number;
  idleSince?: number;
}

/**
 * Runs the API and local worker processes, and scales the workers of each registered version
 * between its min and max from queue backlog and waiting time, with a cooldown.
 * Crashed workers are replaced at the next look.
 */
export class Supervisor {
  private readonly versions = new Map<string, VersionState>();
  private api?: ChildProcess;
  private timer?: NodeJS.Timeout;
  private serial = 0;
  private ticking?: Promise<void>;
  private readonly queues: VersionQueues;

  constructor(
    private readonly redis: Redis,
    private readonly registry: ModelRegistry,
    private readonly options: {
      env: NodeJS.ProcessEnv;
      prefix: string;
      policy: ScalingPolicy;
      pollMs: number;
      withApi: boolean;
    },
    private readonly logger: Logger,
  ) {
    this.queues = new VersionQueues(redis, options.prefix);
  }

  async start(): Promise<void> {
    if (this.options.withApi) this.api = this.spawn('api', {});
    this.timer = setInterval(() => void this.tick(), this.options.pollMs);
    await this.tick();
  }

  /** Local worker processes per `name@version`. */
  counts(): Record<string, number> {
    return Object.fromEntries([...this.versions].map(([key, s]) => [key, s.workers.length]));
  }

  private tick(): Promise<void> {
    this.ticking ??= this.reconcile()
      .catch((error) => this.logger.error({ err: error }, 'supervisor look failed'))
      .finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  private async reconcile(): Promise<void> {
    const registered = new Map<string, VersionRecord>();
    for (const model of await this.registry.listModels()) {
      for (const record of model.versions)
        registered.set(versionKey(record.name, record.version), record);
    }
    for (const [key, state] of this.versions) {
      if (!registered.has(key)) {
        state.workers.forEach((w) => w.kill('SIGTERM'));
        this.versions.delete(key);
      }
    }
    for (const [key, record] of registered) await this.scale(key, record);
  }

  private async scale(key: string, record: VersionRecord): Promise<void> {
    const now = Date.now();
    let state = this.versions.get(key);
    if (!state) {
      state = { workers: [], lastChangeAt: 0 };
      this.versions.set(key, state);
    }
    state.workers = state.workers.filter((w) => w.exitCode === null && w.signalCode === null);
    // Online and bulk work both count: a big batch is a reason to add workers too.
    const backlog = await this.queues.backlog(record.name, record.version);
    const oldestAt = backlog.queued
      ? await this.queues.oldestQueuedAt(record.name, record.version)
      : undefined;
    if (backlog.queued > 0 || backlog.active > 0) state.idleSince = undefined;
    else state.idleSince ??= now;
    const desired = desiredWorkers(
      {
        current: state.workers.length,
        minWorkers: record.minWorkers,
        maxWorkers: record.maxWorkers,
        backlog: backlog.queued,
        oldestWaitMs: now - (oldestAt ?? now),
        active: backlog.active,
        lastChangeAt: state.lastChangeAt,
        idleSince: state.idleSince,
        now,
      },
      this.options.policy,
    );
    if (desired === state.workers.length) return;
    this.logger.info(
      { version: key, from: state.workers.length, to: desired, backlog: backlog.queued },
      'scaling workers',
    );
    while (state.workers.length < desired) {
      const serial = ++this.serial;
      const basePort = Number(this.options.env.WORKER_METRICS_PORT ?? 9464);
      state.workers.push(
        this.spawn('worker', {
          WORKER_MODELS: key,
          WORKER_ID: `${hostname()}-w${serial}`,
          // Each local worker gets its own metrics port: base, base + 1, ... (0 stays "any free port").
          WORKER_METRICS_PORT: String(basePort === 0 ? 0 : basePort + serial - 1),
        }),
      );
    }
    while (state.workers.length > desired) state.workers.pop()!.kill('SIGTERM');
    state.lastChangeAt = now;
    if (state.idleSince !== undefined) state.idleSince = now;
  }

  private spawn(app: 'api' | 'worker', env: Record<string, string>): ChildProcess {
    const child = spawn(process.execPath, [appEntry(app)], {
      env: { ...this.options.env, ...env },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.once('exit', (code, signal) => {
      if (code !== 0 && signal !== 'SIGTERM')
        this.logger.warn({ app, code, signal, ...env }, 'process exited');
    });
    return child;
  }

  /** Stops every worker (they finish their jobs first) and the API. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.ticking;
    const children = [...this.versions.values()].flatMap((s) => s.workers);
    if (this.api) children.push(this.api);
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      ),
    );
    await this.queues.close();
  }
}
