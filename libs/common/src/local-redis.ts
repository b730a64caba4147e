import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';

/** Attempts at a port before giving up: each fails only when another process took the port first. */
const PORT_ATTEMPTS = 5;

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
    private readonly child: ChildProcess,
    readonly url: string,
    readonly port: number,
  ) {}

  /**
   * Starts redis-server from PATH; explains what to install when there is none. `pickPort`
   * (default: one the OS hands out) is asked again for each attempt.
   */
  static async start(
    dataDir?: string,
    pickPort: () => Promise<number> = freePort,
  ): Promise<LocalRedis> {
    if (spawnSync('redis-server', ['--version']).error) {
      throw new Error(
        'REDIS_URL is not set and no redis-server is on PATH. Install Redis 7 ' +
          '(Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or set REDIS_URL.',
      );
    }
    const persistence = dataDir
      ? ['--dir', resolve(dataDir), '--appendonly', 'yes']
      : ['--appendonly', 'no'];
    if (dataDir) mkdirSync(resolve(dataDir), { recursive: true });
    let failure = '';
    for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
      const port = await pickPort();
      const child = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const output: string[] = [];
      const keep = (chunk: Buffer) => output.push(chunk.toString());
      child.stdout!.on('data', keep);
      child.stderr!.on('data', keep);
      const closed = new Promise((done) => child.once('close', done));
      const url = `redis://127.0.0.1:${port}`;
      if (await answers(child, url, closed)) {
        // Keep draining its log so that a full pipe never blocks it; nothing reads it any more.
        child.stdout!.off('data', keep).resume();
        child.stderr!.off('data', keep).resume();
        return new LocalRedis(child, url, port);
      }
      failure = output.join('').trim();
      if (!/address already in use/i.test(failure)) break;
    }
    throw new Error(`redis-server did not start: ${failure || 'no output'}`);
  }

  /** Pid of the redis-server. */
  get pid(): number {
    return this.child.pid!;
  }

  stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((done) => {
      this.child.once('exit', () => done());
      this.child.kill('SIGTERM');
    });
  }
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
