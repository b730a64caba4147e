import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';

/**
 * A redis-server started by this process on a free port of 127.0.0.1: for a developer's
 * `npm start` (data kept in a local folder, append-only) or for a test (no persistence).
 */
export class LocalRedis {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    readonly port: number,
  ) {}

  /** Starts redis-server from PATH; explains what to install when there is none. */
  static async start(dataDir?: string): Promise<LocalRedis> {
    if (spawnSync('redis-server', ['--version']).error) {
      throw new Error(
        'REDIS_URL is not set and no redis-server is on PATH. Install Redis 7 ' +
          '(Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or set REDIS_URL.',
      );
    }
    const port = await freePort();
    const persistence = dataDir
      ? ['--dir', resolve(dataDir), '--appendonly', 'yes']
      : ['--appendonly', 'no'];
    if (dataDir) mkdirSync(resolve(dataDir), { recursive: true });
    const child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence],
      {
        stdio: 'ignore',
      },
    );
    const url = `redis://127.0.0.1:${port}`;
    const client = new Redis(url, {
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
    });
    client.on('error', () => undefined);
    for (let attempt = 0; ; attempt++) {
      try {
        await client.connect();
        await client.ping();
        client.disconnect();
        return new LocalRedis(child, url, port);
      } catch (error) {
        client.disconnect();
        if (attempt > 100 || child.exitCode !== null)
          throw new Error(`redis-server did not start: ${String(error)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  stop(): Promise<void> {
    if (this.child.exitCode !== null) return Promise.resolve();
    return new Promise((done) => {
      this.child.once('exit', () => done());
      this.child.kill('SIGTERM');
    });
  }
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
