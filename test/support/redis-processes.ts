import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { track, untrack } from './children';

/**
 * The redis-server processes of the test topologies (Sentinel, Cluster): started tracked, known
 * to be up by their own pid on their port, and stopped (also when a test paused them).
 */

/** A redis-server with these arguments (a config file and `--sentinel` make a Sentinel). */
export function spawnRedis(args: string[]): ChildProcess {
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  track(child.pid!);
  return child;
}

/** True while the process has neither exited nor been killed. */
export const alive = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

/** Runs `use` on a short-lived connection to the server (or Sentinel) on `port`. */
export async function onPort<T>(port: number, use: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(port, '127.0.0.1', {
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    connectTimeout: 5000,
    commandTimeout: 5000,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return await use(redis);
  } finally {
    redis.disconnect();
  }
}

/** True once the process `child` answers on `port` (checked by its pid); false when it exits. */
export async function answers(child: ChildProcess, port: number): Promise<boolean> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (!alive(child)) return false;
    try {
      const info = await onPort(port, (redis) => redis.info('server'));
      if (Number(/^process_id:(\d+)/m.exec(info)?.[1]) === child.pid) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** Stops a process with `signal`, also one a test paused (SIGSTOP), which hears nothing else. */
export function stopChild(
  child: ChildProcess,
  signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL',
): Promise<void> {
  return new Promise((done) => {
    untrack(child.pid!);
    if (!alive(child)) return done();
    child.once('exit', () => done());
    child.kill('SIGCONT');
    child.kill(signal);
  });
}
