import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';

/** Attempts at a port before giving up: each fails only when another process took the port first. */
const PORT_ATTEMPTS = 5;

/** When Redis fsyncs its append-only file: once a second, or before it answers each write. */
export type AppendFsync = 'everysec' | 'always';

/** How a {@link LocalRedis} runs, beside its data folder. */
export interface LocalRedisOptions {
  /** Fsync policy of the append-only file (with a data folder; default `everysec`). */
  appendfsync?: AppendFsync;
  /**
   * Lead a process group of its own, so that a Ctrl-C meant for its owner's group does not reach
   * it: the owner stops it last, after the processes that use it.
   */
  detached?: boolean;
}

/** Name of the pid file a redis-server with a data folder keeps there while it runs. */
export const REDIS_PID_FILE = 'redis-server.pid';

/**
 * A redis-server started by this process on a free port of 127.0.0.1: for a developer's
 * `npm start` (data kept in a local folder, append-only) or for a test (no persistence).
 *
 * Redis cannot listen on port 0 and report the port it got, so the port is one the OS just
 * handed out; when another process takes it before redis-server binds it, redis-server exits and
 * the start is retried on a new port. The server that answers is checked to be the one started
 * here (its pid), never another Redis that happens to own the port.
 */
export class LocalRedis {
  private constructor(
    private child: ChildProcess,
    readonly url: string,
    readonly port: number,
    private readonly args: string[],
    private readonly detached: boolean,
  ) {}

  /**
   * Starts redis-server from PATH; explains what to install when there is none. `pickPort`
   * (default: one the OS hands out) is asked again for each attempt. With a data folder, it
   * refuses to start while another redis-server still runs on that folder.
   */
  static async start(
    dataDir?: string,
    pickPort: () => Promise<number> = freePort,
    options: LocalRedisOptions = {},
  ): Promise<LocalRedis> {
    if (spawnSync('redis-server', ['--version']).error) {
      throw new Error(
        'REDIS_URL is not set and no redis-server is on PATH. Install Redis 7 ' +
          '(Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or set REDIS_URL.',
      );
    }
    const persistence = dataDir ? dataDirArgs(resolve(dataDir), options) : ['--appendonly', 'no'];
    const detached = options.detached ?? false;
    let failure = '';
    for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
      const port = await pickPort();
      const args = ['--bind', '127.0.0.1', '--save', '', ...persistence];
      const started = await launch(port, args, detached);
      if (started.child) return new LocalRedis(started.child, started.url, port, args, detached);
      failure = started.failure;
      if (!/address already in use/i.test(failure)) break;
    }
    throw new Error(`redis-server did not start: ${failure || 'no output'}`);
  }

  /** Pid of the redis-server. */
  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves when the current redis-server exits, however it ends. */
  exited(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((done) => this.child.once('exit', () => done()));
  }

  /**
   * Starts a new redis-server on the same port with the same data (after the last one died):
   * clients that reconnect find it where it was, with what its append-only file kept.
   */
  async restart(): Promise<void> {
    if (this.running) throw new Error(`redis-server ${this.pid} is still running`);
    const started = await launch(this.port, this.args, this.detached);
    if (!started.child) throw new Error(`redis-server did not start again: ${started.failure}`);
    this.child = started.child;
  }

  /** Stops it (Redis flushes its append-only file first); SIGKILL when it has not exited in `graceMs`. */
  stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((done) => {
      const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      this.child.once('exit', () => {
        clearTimeout(timer);
        done();
      });
      this.child.kill('SIGTERM');
    });
  }
}

/** Arguments of a server with its data in `dir`: append-only, fsynced as asked. */
function dataDirArgs(dir: string, options: LocalRedisOptions): string[] {
  mkdirSync(dir, { recursive: true });
  const pidFile = join(dir, REDIS_PID_FILE);
  const other = runningRedisPid(pidFile);
  if (other !== undefined) {
    throw new Error(
      `another redis-server (pid ${other}) runs on ${dir}: a modelfleet serve still running, or ` +
        `left by one that was killed. Stop it (kill ${other}) or use another REDIS_DATA_DIR.`,
    );
  }
  return [
    ...['--dir', dir, '--pidfile', pidFile],
    ...['--appendonly', 'yes', '--appendfsync', options.appendfsync ?? 'everysec'],
  ];
}

/** The pid in a redis-server pid file, when that process still runs and is a redis-server. */
function runningRedisPid(pidFile: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
    process.kill(pid, 0);
  } catch {
    return undefined;
  }
  try {
    // A reused pid of another program does not count (where /proc tells).
    if (!readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('redis-server')) return undefined;
  } catch {
    // no /proc: trust the pid file
  }
  return pid;
}

/** Spawns redis-server on `port` and waits until it answers, or says why it did not. */
async function launch(
  port: number,
  args: string[],
  detached: boolean,
): Promise<{ child?: ChildProcess; url: string; failure: string }> {
  const child = spawn('redis-server', ['--port', String(port), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached,
  });
  const output: string[] = [];
  const keep = (chunk: Buffer) => output.push(chunk.toString());
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const closed = new Promise((done) => child.once('close', done));
  const url = `redis://127.0.0.1:${port}`;
  if (await answers(child, url, closed)) {
    // Keep draining its log so that a full pipe never blocks it; nothing reads it any more.
    child.stdout.off('data', keep).resume();
    child.stderr.off('data', keep).resume();
    return { child, url, failure: '' };
  }
  return { url, failure: output.join('').trim() };
}

/**
 * Waits until the redis-server `child` answers at `url`: true once it does, false when it exits
 * first (its output is then complete). Fails when it neither answers nor exits within 10 s.
 */
async function answers(
  child: ChildProcess,
  url: string,
  closed: Promise<unknown>,
): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  });
  client.on('error', () => undefined);
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  try {
    for (let attempt = 0; attempt < 200 && !exited(); attempt++) {
      try {
        await client.connect();
        const pid = /^process_id:(\d+)/m.exec(await client.info('server'))?.[1];
        if (Number(pid) === child.pid) return true;
      } catch {
        // not listening yet
      }
      client.disconnect();
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    client.disconnect();
  }
  if (!exited()) {
    child.kill('SIGKILL');
    throw new Error(`redis-server did not answer at ${url} within 10 s`);
  }
  await closed;
  return false;
}

/** A free TCP port on 127.0.0.1, as the OS hands it out. */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => done(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
