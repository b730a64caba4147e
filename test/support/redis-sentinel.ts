import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@app/common';
import { eventually } from './processes';
import { alive, answers, onPort, spawnRedis, stopChild } from './redis-processes';
import type { RedisServer } from './redis-server';

/** Ports tried per process before giving up: a try fails only when another process took one. */
const ATTEMPTS = 5;

/** The name the Sentinels of a {@link TestRedisSentinel} give the primary they watch. */
export const SENTINEL_NAME = 'mymaster';

/**
 * Why these Redis topologies cannot run here, or undefined when they can: a redis-server (which
 * runs as a Sentinel with `--sentinel`) and redis-cli (which joins a cluster) are needed.
 */
export function redisToolsMissing(): string | undefined {
  for (const tool of ['redis-server', 'redis-cli'])
    if (spawnSync(tool, ['--version']).error) return `${tool} is not installed`;
  return undefined;
}

interface Started {
  child: ChildProcess;
  port: number;
}

export interface SentinelTopologyOptions {
  /** Replicas of the primary (default 2). */
  replicas?: number;
  /** Sentinels watching it (default 3, quorum 2). */
  sentinels?: number;
  /** How long the primary must not answer before a Sentinel calls it down (default 2000 ms). */
  downAfterMs?: number;
}

/**
 * A throwaway Redis Sentinel deployment on loopback ports the OS handed out: one primary, its
 * replicas and the Sentinels that watch them (quorum: a majority), no persistence. `url` names
 * the first primary (for the credentials-only REDIS_URL); {@link primaryUrl} asks the Sentinels
 * which server is the primary now. Everything it started is stopped by {@link stop}, and at the
 * end of the test file at the latest, also after a failure.
 */
export class TestRedisSentinel implements RedisServer {
  private readonly servers: Started[] = [];
  private readonly sentinelProcesses: Started[] = [];

  private constructor(private readonly dir: string) {}

  static async start(options: SentinelTopologyOptions = {}): Promise<TestRedisSentinel> {
    const { replicas = 2, sentinels = 3, downAfterMs = 2000 } = options;
    const topology = new TestRedisSentinel(mkdtempSync(join(tmpdir(), 'modelfleet-sentinel-')));
    try {
      const primary = await topology.startServer([]);
      for (let i = 0; i < replicas; i++)
        await topology.startServer(['--replicaof', '127.0.0.1', String(primary.port)]);
      await eventually(`${replicas} replicas in sync with the primary`, () =>
        onPort(primary.port, async (redis) => {
          const info = await redis.info('replication');
          const online = info.match(/^slave\d+:.*state=online/gm) ?? [];
          return online.length === replicas ? true : undefined;
        }),
      );
      const quorum = Math.floor(sentinels / 2) + 1;
      for (let i = 0; i < sentinels; i++)
        await topology.startSentinel(primary.port, quorum, downAfterMs);
      // Each Sentinel has found the others and the replicas (through the primary's hello channel).
      await eventually(
        'every Sentinel to know the others and the replicas',
        async () => {
          for (const sentinel of topology.sentinelProcesses) {
            const master = await onPort(sentinel.port, (redis) =>
              redis.call('SENTINEL', 'MASTER', SENTINEL_NAME),
            );
            const fields = pairs(master as string[]);
            if (Number(fields['num-other-sentinels']) !== sentinels - 1) return undefined;
            if (Number(fields['num-slaves']) !== replicas) return undefined;
          }
          return true;
        },
        60_000,
        200,
      );
      return topology;
    } catch (error) {
      await topology.stop();
      throw error;
    }
  }

  /** The Sentinels, as `127.0.0.1:<port>` (for REDIS_SENTINELS). */
  get sentinels(): string[] {
    return this.sentinelProcesses.map((s) => `127.0.0.1:${s.port}`);
  }

  /** The first primary: credentials only, once a failover has happened. */
  get url(): string {
    return `redis://127.0.0.1:${this.servers[0].port}`;
  }

  get port(): number {
    return this.servers[0].port;
  }

  /** The environment that makes the API and workers Sentinel-managed. */
  get env(): Record<string, string> {
    return { REDIS_SENTINELS: this.sentinels.join(','), REDIS_SENTINEL_NAME: SENTINEL_NAME };
  }

  /** The port of the primary as the Sentinels (every one that answers) name it now. */
  async primaryPort(): Promise<number> {
    for (const sentinel of this.sentinelProcesses) {
      if (!alive(sentinel.child)) continue;
      try {
        const [, port] = (await onPort(sentinel.port, (redis) =>
          redis.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SENTINEL_NAME),
        )) as [string, string];
        return Number(port);
      } catch {
        // try the next one
      }
    }
    throw new Error('no Sentinel answers');
  }

  /** URL of the primary now. */
  async primaryUrl(): Promise<string> {
    return `redis://127.0.0.1:${await this.primaryPort()}`;
  }

  /** Ports of every redis-server of the topology, the first primary first. */
  get serverPorts(): number[] {
    return this.servers.map((s) => s.port);
  }

  /** The pid of the redis-server on `port`. */
  pidOn(port: number): number {
    const server = this.servers.find((s) => s.port === port);
    if (!server) throw new Error(`no redis-server of this topology on port ${port}`);
    return server.child.pid!;
  }

  /**
   * Waits until the Sentinels agree on a primary other than the one on `oldPort`, and that server
   * says it is a primary with `replicas` replicas online (the old one among them, if it is back).
   */
  async promotedFrom(oldPort: number, replicas: number, timeoutMs = 120_000): Promise<number> {
    return eventually(
      `a replica promoted in place of the primary on ${oldPort}`,
      async () => {
        const ports = new Set<number>();
        for (const sentinel of this.sentinelProcesses) {
          const [, port] = (await onPort(sentinel.port, (redis) =>
            redis.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SENTINEL_NAME),
          )) as [string, string];
          ports.add(Number(port));
        }
        const [port] = ports;
        if (ports.size !== 1 || port === oldPort) return undefined;
        const info = await onPort(port, (redis) => redis.info('replication'));
        if (!/^role:master/m.test(info)) return undefined;
        const online = info.match(/^slave\d+:.*state=online/gm) ?? [];
        return online.length >= replicas ? port : undefined;
      },
      timeoutMs,
      250,
    );
  }

  /**
   * Starts the redis-server that was on `port` again (after a test killed it), as a replica of
   * the primary now; the Sentinels find it there. Resolves once it answers.
   */
  async restart(port: number): Promise<void> {
    const server = this.servers.find((s) => s.port === port);
    if (!server) throw new Error(`no redis-server of this topology on port ${port}`);
    await stopChild(server.child);
    const primary = await this.primaryPort();
    server.child = spawnRedis([
      ...['--port', String(port), '--bind', '127.0.0.1', '--dir', this.dir],
      ...['--save', '', '--appendonly', 'no', '--dbfilename', `dump-${port}.rdb`],
      ...['--replicaof', '127.0.0.1', String(primary)],
    ]);
    if (!(await answers(server.child, port)))
      throw new Error(`redis-server on ${port} did not start`);
  }

  /** The role (`master`, `slave`) the server on `port` says it has. */
  async roleOn(port: number): Promise<string> {
    const info = await onPort(port, (redis) => redis.info('replication'));
    return /^role:(\w+)/m.exec(info)?.[1] ?? 'unknown';
  }

  async stop(): Promise<void> {
    const all = [...this.sentinelProcesses, ...this.servers];
    await Promise.all(all.map((p) => stopChild(p.child)));
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async startServer(args: string[]): Promise<Started> {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const child = spawnRedis([
        ...['--port', String(port), '--bind', '127.0.0.1', '--dir', this.dir],
        ...['--save', '', '--appendonly', 'no', '--dbfilename', `dump-${port}.rdb`],
        ...args,
      ]);
      if (await answers(child, port)) {
        const started = { child, port };
        this.servers.push(started);
        return started;
      }
      await stopChild(child);
      if (attempt >= ATTEMPTS) throw new Error(`redis-server did not start on port ${port}`);
    }
  }

  private async startSentinel(primaryPort: number, quorum: number, downAfterMs: number) {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      // A Sentinel rewrites its configuration file: one of its own in the topology's folder.
      const config = join(this.dir, `sentinel-${port}.conf`);
      writeFileSync(
        config,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${this.dir}`,
          `sentinel monitor ${SENTINEL_NAME} 127.0.0.1 ${primaryPort} ${quorum}`,
          `sentinel down-after-milliseconds ${SENTINEL_NAME} ${downAfterMs}`,
          `sentinel failover-timeout ${SENTINEL_NAME} ${Math.max(10_000, downAfterMs * 5)}`,
          `sentinel parallel-syncs ${SENTINEL_NAME} 1`,
          '',
        ].join('\n'),
      );
      const child = spawnRedis([config, '--sentinel']);
      if (await answers(child, port)) {
        this.sentinelProcesses.push({ child, port });
        return;
      }
      await stopChild(child);
      if (attempt >= ATTEMPTS) throw new Error(`redis-sentinel did not start on port ${port}`);
    }
  }
}

/** `[k1, v1, k2, v2, ...]` as an object. */
function pairs(list: string[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < list.length; i += 2) fields[list[i]] = list[i + 1];
  return fields;
}
