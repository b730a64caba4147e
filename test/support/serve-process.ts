import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { track } from './children';
import { demoModelStore } from './model-store';
import { AppProcess, untilHealthy } from './processes';
import { ROOT } from './paths';
import { MANAGEMENT_TOKEN } from './stack';

export interface ServeOptions {
  /** Model store (default: a temporary one with the demo model as version 1, removed at stop). */
  modelStore?: string;
  /** Data folder of serve's Redis (default: a temporary one, removed at stop). */
  dataDir?: string;
  /** Extra environment of serve (and so of the API and workers). */
  env?: Record<string, string>;
  /** Wait for /ping to say Healthy (default true). */
  waitHealthy?: boolean;
}

/**
 * `modelfleet serve` as a test runs it: every port 0 (the API's ports are read from its
 * `API listening` line, which serve passes through), its Redis in a temporary data folder.
 * serve leads a process group; its redis-server, API and workers run outside that group on
 * purpose (a Ctrl-C reaches serve alone, which stops them in order), so their pids are read from
 * serve's log and tracked one by one.
 */
export class ServeProcess {
  private constructor(
    readonly process: AppProcess,
    readonly dataDir: string,
    private readonly owned: string[],
  ) {
    // Its redis-server and children lead process groups of their own: each is tracked by pid.
    const follow = (chunk: Buffer) => {
      for (const match of chunk.toString().matchAll(/"(redisPid|childPid)":(\d+)/g))
        track(Number(match[2]));
    };
    process.child.stdout?.on('data', follow);
  }

  /** The environment every serve of the tests runs with, beside the caller's. */
  static environment(store: string, dataDir: string): Record<string, string> {
    return {
      // Empty is unset: serve starts its own Redis, whatever the caller's environment says.
      REDIS_URL: '',
      MODEL_STORE: store,
      REDIS_DATA_DIR: dataDir,
      API_PORT: '0',
      MANAGEMENT_PORT: '0',
      METRICS_PORT: '0',
      GRPC_PORT: '0',
      WORKER_METRICS_PORT: '0',
      API_HOST: '127.0.0.1',
      MANAGEMENT_TOKEN,
      HEARTBEAT_MS: '500',
      REGISTRY_POLL_MS: '500',
      SUPERVISOR_POLL_MS: '200',
      INTRA_OP_THREADS: '1',
      WEBHOOKS_ENABLED: 'false',
    };
  }

  /** Starts serve without waiting for anything. */
  static launch(options: ServeOptions = {}): ServeProcess {
    const owned: string[] = [];
    const store = options.modelStore ?? demoModelStore([{ version: '1' }]);
    if (!options.modelStore) owned.push(store);
    const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'modelfleet-serve-redis-'));
    if (!options.dataDir) owned.push(dataDir);
    const env = { ...ServeProcess.environment(store, dataDir), ...options.env };
    const serve = AppProcess.start('serve', 'apps/cli/src/main.js', env, ['serve']);
    return new ServeProcess(serve, dataDir, owned);
  }

  /** Starts serve and waits for the API to listen and, unless told not to, to be Healthy. */
  static async start(options: ServeOptions = {}): Promise<ServeProcess> {
    const serve = ServeProcess.launch(options);
    try {
      await serve.process.waitForLog('API listening');
      if (options.waitHealthy ?? true) await serve.waitHealthy();
      return serve;
    } catch (error) {
      await serve.stop();
      throw error;
    }
  }

  /** Log lines with this `msg`, parsed. */
  lines(message: string): Record<string, unknown>[] {
    return this.process.logs().filter((l) => l.msg === message);
  }

  /** Base URL of the inference API (its ports stay the same across restarts). */
  get apiUrl(): string {
    return `http://127.0.0.1:${Number(this.lines('API listening')[0].port)}`;
  }

  get managementUrl(): string {
    return `http://127.0.0.1:${Number(this.lines('API listening')[0].managementPort)}`;
  }

  /** URL of serve's Redis (the same after it is restarted). */
  get redisUrl(): string {
    return String(this.lines('started a local redis-server')[0].url);
  }

  /** Pid of serve's redis-server now. */
  get redisPid(): number {
    const started = [
      ...this.lines('started a local redis-server'),
      ...this.lines('restarted the local redis-server'),
    ];
    return Number(started.at(-1)!.redisPid);
  }

  /** Pids of every run serve started of the child named `name` (`api`, or a worker's prefix). */
  childPids(name: string): number[] {
    return this.lines('started process')
      .filter((l) => String(l.child).startsWith(name))
      .map((l) => Number(l.childPid));
  }

  /** Every pid serve started: its children's runs and its redis-servers. */
  allPids(): number[] {
    const redis = [
      ...this.lines('started a local redis-server'),
      ...this.lines('restarted the local redis-server'),
    ].map((l) => Number(l.redisPid));
    return [...this.childPids(''), ...redis];
  }

  async waitHealthy(timeoutMs = 60_000): Promise<void> {
    await untilHealthy(this.process, this.apiUrl, 'serve', timeoutMs);
  }

  /** Waits for serve to exit, at most `timeoutMs` (a generous bound, not a measurement). */
  async exited(timeoutMs = 90_000): Promise<number | null | 'running'> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'running'>((r) => (timer = setTimeout(() => r('running'), timeoutMs)));
    try {
      return await Promise.race([this.process.waitForExit(), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Stops serve (SIGTERM: it stops its children and its Redis in order), then kills whatever of
   * it is left, its redis-servers included, and removes the folders it made.
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const code = await this.process.stop(signal, 60_000);
    for (const pid of this.allPids().filter(ours)) process.kill(pid, 'SIGKILL');
    for (const dir of this.owned) rmSync(dir, { recursive: true, force: true });
    return code;
  }
}

/** Whether a process with this pid still exists (a zombie counts as gone). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}

/** Whether `pid` is alive and still one of serve's: a redis-server or a node app of this repository. */
function ours(pid: number): boolean {
  if (!alive(pid)) return false;
  try {
    const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return command.includes('redis-server') || command.includes(ROOT);
  } catch {
    return false;
  }
}
