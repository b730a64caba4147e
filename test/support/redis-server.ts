import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { connectRedis, LocalRedis, freePort } from '@app/common';
import { track, untrack } from './children';

/** A redis-server a test started, and how to reach it. */
export interface RedisServer {
  /** URL with whatever credentials and scheme (`rediss://` for TLS) the server needs. */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** A throwaway redis-server on a port of its own (see {@link LocalRedis}), with no persistence. */
export class TestRedis implements RedisServer {
  private readonly connections: Redis[] = [];

  private constructor(private readonly server: LocalRedis) {}

  /** Starts it; it is stopped at the end of the test file at the latest. */
  static async start(): Promise<TestRedis> {
    const server = await LocalRedis.start();
    track(server.pid);
    return new TestRedis(server);
  }

  get url(): string {
    return this.server.url;
  }

  get port(): number {
    return this.server.port;
  }

  /** The redis-server's pid, for tests that pause or kill it. */
  get pid(): number {
    return this.server.pid;
  }

  /** A connection to it as the apps make one, disconnected by {@link stop}. */
  connect(): Redis {
    const connection = connectRedis(this.url);
    this.connections.push(connection);
    return connection;
  }

  async stop(): Promise<void> {
    for (const connection of this.connections.splice(0)) connection.disconnect();
    await this.server.stop();
    untrack(this.server.pid);
  }
}

export const startTestRedis = (): Promise<TestRedis> => TestRedis.start();

export interface SecuredRedisOptions {
  /** The only ACL user; the default user is switched off. */
  user: string;
  password: string;
  /** Serve TLS only, with this certificate and key (PEM files); clients must trust the certificate. */
  tls?: { cert: string; key: string };
}

/** Ports tried before giving up: a try fails only when another process took the port first. */
const ATTEMPTS = 5;

/**
 * A throwaway redis-server that admits one ACL user and nobody else, optionally over TLS only:
 * what a hardened deployment runs. Like {@link LocalRedis}, it moves to another port when the
 * one the OS handed out was taken before the server could bind it.
 */
export async function startSecuredRedis(options: SecuredRedisOptions): Promise<RedisServer> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = spawnSecured(port, options);
    track(child.pid!);
    const stop = () =>
      new Promise<void>((done) => {
        untrack(child.pid!);
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.once('exit', () => done());
        child.kill('SIGTERM');
      });
    const url = `${options.tls ? 'rediss' : 'redis'}://${options.user}:${options.password}@127.0.0.1:${port}`;
    if (await answers(url, child, options.tls?.cert)) return { url, port, stop };
    await stop();
    if (attempt >= ATTEMPTS) throw new Error(`secured redis-server did not start on ${port}`);
  }
}

function spawnSecured(port: number, { user, password, tls }: SecuredRedisOptions): ChildProcess {
  const listen = tls
    ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.cert]
    : ['--port', String(port)];
  return spawn(
    'redis-server',
    [
      ...listen,
      ...(tls ? ['--tls-key-file', tls.key, '--tls-auth-clients', 'no'] : []),
      ...['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      ...['--user', 'default', 'off', '--user', user, 'on', `>${password}`, '~*', '&*', '+@all'],
    ],
    { stdio: 'ignore' },
  );
}

/** True once the server started as `child` answers at `url`; false when it exited first. */
async function answers(url: string, child: ChildProcess, ca?: string): Promise<boolean> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (child.exitCode !== null) return false;
    const client = new Redis(url, {
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
      ...(ca ? { tls: { ca: readFileSync(ca, 'utf8') } } : {}),
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.ping();
      return true;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      client.disconnect();
    }
  }
  return false;
}
