import { availableParallelism, hostname } from 'node:os';
import { VersionQueues, type Logger, type RedisConnection, type RestartPolicy } from '@app/common';
import { ModelRegistry, versionKey, type VersionRecord } from '@app/registry';
import { desiredWorkers, intraOpThreadsPerWorker, type ScalingPolicy } from './scaling';
import { SupervisedChild, type ChildEvents, type ChildOutput } from './supervised-child';

/** The four ports of the API. */
export interface ApiPorts {
  port: number;
  managementPort: number;
  metricsPort: number;
  grpcPort: number;
}

interface VersionState {
  workers: SupervisedChild[];
  lastChangeAt: number;
  idleSince?: number;
}

/** The startup lines of the API and of a worker. */
const STARTED = { api: 'API listening', worker: 'worker started' } as const;

/**
 * Runs the API and local worker processes, and scales the workers of each registered version
 * between its min and max from queue backlog and waiting time, with a cooldown.
 *
 * Every child is restarted with backoff when it exits unasked ({@link SupervisedChild}); one
 * that keeps failing before it starts calls `onGiveUp`. Workers start only once the API has
 * started: the API registers the store's packages before it listens, so the first scaling pass
 * reads a registry that matches the store, never a stale one kept in Redis.
 */
export class Supervisor {
  private readonly versions = new Map<string, VersionState>();
  private api?: SupervisedChild;
  private timer?: NodeJS.Timeout;
  private serial = 0;
  private ticking?: Promise<void>;
  private stopped = false;
  private readonly queues: VersionQueues;
  private readonly childEvents: ChildEvents;
  /** The ports the API bound, from its startup line (those of its first run). */
  apiPorts?: ApiPorts;

  constructor(
    private readonly redis: RedisConnection,
    private readonly registry: ModelRegistry,
    private readonly options: {
      env: NodeJS.ProcessEnv;
      prefix: string;
      policy: ScalingPolicy;
      restart: RestartPolicy;
      pollMs: number;
      withApi: boolean;
      /** A child could not start: serve stops with `reason`. */
      onGiveUp: (reason: string) => void;
      /** Where the children's output goes (default: serve's stdout and stderr). */
      output?: ChildOutput;
    },
    private readonly logger: Logger,
  ) {
    this.queues = new VersionQueues(redis, options.prefix);
    this.childEvents = {
      onStarted: (child, line) => this.onStarted(child, line),
      onGiveUp: (_child, reason) => options.onGiveUp(reason),
    };
  }

  /**
   * Starts the API and waits for it to listen (its packages registered), then scales workers.
   * Resolves false when serve was stopped (or the API gave up) before that.
   */
  async start(): Promise<boolean> {
    if (this.options.withApi) {
      this.api = this.child('api', 'api', {});
      this.api.start();
      const up = await this.untilStarted(this.api);
      if (!up) return false;
    }
    if (this.stopped) return false;
    this.timer = setInterval(() => void this.tick(), this.options.pollMs);
    await this.tick();
    return true;
  }

  /** Local worker processes per `name@version`. */
  counts(): Record<string, number> {
    return Object.fromEntries([...this.versions].map(([key, s]) => [key, s.workers.length]));
  }

  private child(name: string, app: 'api' | 'worker', env: Record<string, string>) {
    return new SupervisedChild(
      { name, app, env: { ...this.options.env, ...env }, startedMessage: STARTED[app] },
      this.options.restart,
      this.logger,
      this.childEvents,
      this.options.output,
    );
  }

  /** Resolves true once `child` has started, false if serve stops first. */
  private untilStarted(child: SupervisedChild): Promise<boolean> {
    return new Promise((done) => {
      const look = setInterval(() => {
        if (child.isStarted || this.stopped) {
          clearInterval(look);
          done(!this.stopped);
        }
      }, 50);
    });
  }

  private onStarted(child: SupervisedChild, line: Record<string, unknown>): void {
    if (child !== this.api) return;
    // A restarted API keeps the ports it got the first time (0 asks the OS for any free port):
    // its clients find it where it was.
    const ports = {
      API_PORT: line.port,
      MANAGEMENT_PORT: line.managementPort,
      METRICS_PORT: line.metricsPort,
      GRPC_PORT: line.grpcPort,
    };
    for (const [key, port] of Object.entries(ports)) {
      if (typeof port === 'number') child.spec.env[key] = String(port);
    }
    const { port, managementPort, metricsPort, grpcPort } = line;
    if ([port, managementPort, metricsPort, grpcPort].every((p) => typeof p === 'number'))
      this.apiPorts ??= { port, managementPort, metricsPort, grpcPort } as ApiPorts;
  }

  private tick(): Promise<void> {
    this.ticking ??= this.reconcile()
      .catch((error) => this.logger.error({ err: error }, 'supervisor look failed'))
      .finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  private async reconcile(): Promise<void> {
    if (this.stopped) return;
    const registered = new Map<string, VersionRecord>();
    for (const model of await this.registry.listModels()) {
      for (const record of model.versions)
        registered.set(versionKey(record.name, record.version), record);
    }
    for (const [key, state] of this.versions) {
      if (!registered.has(key)) {
        state.workers.forEach((w) => void w.stop('SIGTERM'));
        this.versions.delete(key);
      }
    }
    for (const [key, record] of registered) if (!this.stopped) await this.scale(key, record);
  }

  private async scale(key: string, record: VersionRecord): Promise<void> {
    const now = Date.now();
    let state = this.versions.get(key);
    if (!state) {
      state = { workers: [], lastChangeAt: 0 };
      this.versions.set(key, state);
    }
    // Online and bulk work both count: a big batch is a reason to add workers too.
    const backlog = await this.queues.backlog(record.name, record.version);
    const oldestAt = backlog.queued
      ? await this.queues.oldestQueuedAt(record.name, record.version)
      : undefined;
    if (backlog.queued > 0 || backlog.active > 0) state.idleSince = undefined;
    else state.idleSince ??= now;
    const desired = desiredWorkers(
      {
        // A crashed worker waiting for its restart still counts: it comes back by itself.
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
    if (desired === state.workers.length || this.stopped) return;
    this.logger.info(
      { version: key, from: state.workers.length, to: desired, backlog: backlog.queued },
      'scaling workers',
    );
    // Unless INTRA_OP_THREADS is set, the version's workers share the cores (measured: three
    // workers of four threads each serve 1.6 times what one of twelve does on twelve cores).
    const threads =
      this.options.env.INTRA_OP_THREADS === undefined
        ? intraOpThreadsPerWorker(availableParallelism(), record.maxWorkers)
        : undefined;
    while (state.workers.length < desired) {
      const serial = ++this.serial;
      const basePort = Number(this.options.env.WORKER_METRICS_PORT ?? 9464);
      const worker = this.child(`worker ${key} w${serial}`, 'worker', {
        WORKER_MODELS: key,
        WORKER_ID: `${hostname()}-w${serial}`,
        // Each local worker gets its own metrics port: base, base + 1, ... (0 stays "any free port").
        WORKER_METRICS_PORT: String(basePort === 0 ? 0 : basePort + serial - 1),
        ...(threads ? { INTRA_OP_THREADS: String(threads) } : {}),
      });
      state.workers.push(worker.start());
    }
    while (state.workers.length > desired) void state.workers.pop()!.stop('SIGTERM');
    state.lastChangeAt = now;
    if (state.idleSince !== undefined) state.idleSince = now;
  }

  /**
   * Stops in order, by `deadline` (epoch ms): no more scaling or restarts; the API first (it
   * stops taking requests and answers those in flight while the workers still run), then the
   * workers (each finishes its jobs in hand). Whatever still runs at the deadline is killed.
   * Resolves true when everything stopped by itself in time.
   */
  async stop(deadline: number): Promise<boolean> {
    this.stopped = true;
    clearInterval(this.timer);
    const workers = () => [...this.versions.values()].flatMap((s) => s.workers);
    // No restarts from now on, decided before the first await: a child that stops on its own
    // meanwhile (a signal sent to it directly) must not come back.
    [...workers(), ...(this.api ? [this.api] : [])].forEach((child) => child.retire());
    await withDeadline(this.ticking ?? Promise.resolve(), deadline);
    let clean = await withDeadline(this.api?.stop('SIGTERM') ?? Promise.resolve(), deadline);
    const all = workers();
    all.forEach((child) => child.retire());
    clean = (await withDeadline(Promise.all(all.map((w) => w.stop('SIGTERM'))), deadline)) && clean;
    for (const child of [...all, ...(this.api ? [this.api] : [])]) {
      if (!child.running) continue;
      this.logger.warn(
        { child: child.spec.name, childPid: child.pid },
        'grace period over: killing it',
      );
      child.kill();
    }
    await withDeadline(this.queues.close(), Date.now() + 2000);
    return clean;
  }
}

/** Waits for `work` until `deadline` (epoch ms): true when it finished in time. */
async function withDeadline(work: Promise<unknown>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((done) => {
    timer = setTimeout(() => done(false), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([work.then(() => true as const), late]);
  } finally {
    clearTimeout(timer);
  }
}
