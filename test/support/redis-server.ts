import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { LocalRedis, freePort } from '@app/common';

export { freePort } from '@app/common';

/** A redis-server a test started, and how to reach it. */
export interface TestRedis {
  /** URL with whatever credentials and scheme (`rediss://` for TLS) the server needs. */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** A throwaway redis-server on a free port, with no persistence. */
export const startTestRedis = (): Promise<TestRedis> => LocalRedis.start();

export interface SecuredRedisOptions {
  /** The only ACL user; the default user is switched off. */
  user: string;
  password: string;
  /** Serve TLS only, with this certificate and key (PEM files); clients must trust the certificate. */
  tls?: { cert: string; key: string };
}

/**
 * A throwaway redis-server that admits one ACL user and nobody else, optionally over TLS only:
 * what a hardened deployment runs.
 */
export async function startSecuredRedis(options: SecuredRedisOptions): Promise<TestRedis> {
  const port = await freePort();
  const { user, password, tls } = options;
  const listen = tls
    ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.cert]
    : ['--port', String(port)];
  const child = spawn(
    'redis-server',
    [
      ...listen,
      ...(tls ? ['--tls-key-file', tls.key, '--tls-auth-clients', 'no'] : []),
      ...['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      ...['--user', 'default', 'off', '--user', user, 'on', `>${password}`, '~*', '&*', '+@all'],
    ],
    { stdio: 'ignore' },
  );
  const url = `${tls ? 'rediss' : 'redis'}://${user}:${password}@127.0.0.1:${port}`;
  const stop = () =>
    child.exitCode !== null
      ? Promise.resolve()
      : new Promise<void>((done) => {
          child.once('exit', () => done());
          child.kill('SIGTERM');
        });
  for (let attempt = 0; ; attempt++) {
    const client = new Redis(url, {
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
      ...(tls ? { tls: { ca: readFileSync(tls.cert, 'utf8') } } : {}),
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.ping();
      client.disconnect();
      return { url, port, stop };
    } catch (error) {
      client.disconnect();
      if (attempt > 100 || child.exitCode !== null) {
        await stop();
        throw new Error(`secured redis-server did not start: ${String(error)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
