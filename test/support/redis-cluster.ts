import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from '@app/common';
import { eventually } from './processes';
import { answers, spawnRedis, stopChild } from './redis-processes';
import type { RedisServer } from './redis-server';

/** Ports tried per node before giving up: a try fails only when another process took one first. */
const ATTEMPTS = 5;

/** A master of a {@link TestRedisCluster}. */
interface ClusterNodeProcess {
  child: ChildProcess;
  port: number;
  /** The redis-server arguments, to start the node again (same ports, same cluster state). */
  args: string[];
}

/**
 * A throwaway Redis Cluster of masters (with or without replicas) on loopback ports, no persistence. Each
 * node's client and bus ports are ones the OS just handed out; a node that finds one taken exits
 * and is started again on new ones, and the server that answers is checked to be the one started
 * here (its pid). `url` names the first node; {@link nodes} lists them all as `host:port`.
 */
export class TestRedisCluster implements RedisServer {
  private constructor(
    private readonly processes: ClusterNodeProcess[],
    private readonly dir: string,
  ) {}

  /**
   * Starts `masters` nodes, and `replicas` replicas of each, joins them into one cluster and
   * waits until it serves every slot (and every replica is in sync with its master). With
   * replicas, a node that does not answer for 2 s is failed over (`cluster-node-timeout`).
   */
  static async start(masters = 3, replicas = 0): Promise<TestRedisCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'modelfleet-cluster-'));
    const cluster = new TestRedisCluster([], dir);
    const timeout = replicas > 0 ? ['--cluster-node-timeout', '2000'] : [];
    try {
      for (let i = 0; i < masters * (1 + replicas); i++)
        cluster.processes.push(await startNode(dir, timeout));
      await promisify(execFile)('redis-cli', [
        '--cluster',
        'create',
        ...cluster.nodes,
        ...['--cluster-replicas', String(replicas), '--cluster-yes'],
      ]);
      for (const node of cluster.nodes) {
        await eventually(
          `cluster_state:ok on ${node}`,
          async () => {
            const info = await cluster.onNode(node, (redis) => redis.cluster('INFO'));
            if (!/^cluster_state:ok/m.test(info)) return undefined;
            const role = await cluster.onNode(node, (redis) => redis.info('replication'));
            // A replica counts once its first sync is done.
            return /^role:master/m.test(role) || /^master_link_status:up/m.test(role)
              ? true
              : undefined;
          },
          60_000,
        );
      }
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  /** Every node, as `127.0.0.1:<port>`. */
  get nodes(): string[] {
    return this.processes.map((p) => `127.0.0.1:${p.port}`);
  }

  get url(): string {
    return `redis://${this.nodes[0]}`;
  }

  get port(): number {
    return this.processes[0].port;
  }

  /** The pid of the redis-server of `node` (`host:port`). */
  pidOf(node: string): number {
    const found = this.processes.find((p) => `127.0.0.1:${p.port}` === node);
    if (!found) throw new Error(`${node} is not a node of this cluster`);
    return found.child.pid!;
  }

  /**
   * Starts a node that was killed again, on its ports and with its cluster state file: it rejoins
   * the cluster (as a replica, once another node took over its slots) and resyncs.
   */
  async restart(node: string): Promise<void> {
    const found = this.processes.find((p) => `127.0.0.1:${p.port}` === node);
    if (!found) throw new Error(`${node} is not a node of this cluster`);
    await stopChild(found.child, 'SIGTERM');
    found.child = spawnRedis(found.args);
    if (!(await answers(found.child, found.port))) throw new Error(`${node} did not start again`);
  }

  /** The nodes whose process still runs. */
  get liveNodes(): string[] {
    return this.processes
      .filter((p) => p.child.exitCode === null && p.child.signalCode === null)
      .map((p) => `127.0.0.1:${p.port}`);
  }

  /** The node (`host:port`) that serves `key`, as the cluster itself says (a live node asked). */
  async masterOf(key: string): Promise<string> {
    return this.onNode(this.liveNodes[0], async (redis) => {
      const slot = Number(await redis.cluster('KEYSLOT', key));
      const range = (await redis.cluster('SLOTS')).find(
        ([first, last]) => first <= slot && slot <= last,
      );
      const [host, port] = range?.[2] ?? [];
      if (!host) throw new Error(`no node serves slot ${slot}`);
      return `${host}:${port}`;
    });
  }

  /** Runs `use` on a plain connection to one node. */
  async onNode<T>(node: string, use: (redis: Redis) => Promise<T>): Promise<T> {
    const redis = new Redis(`redis://${node}`, { maxRetriesPerRequest: 1 });
    redis.on('error', () => undefined);
    try {
      return await use(redis);
    } finally {
      redis.disconnect();
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.processes.map((p) => stopChild(p.child, 'SIGTERM')));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function startNode(dir: string, extra: string[]): Promise<ClusterNodeProcess> {
  for (let attempt = 1; ; attempt++) {
    const [port, bus] = [await freePort(), await freePort()];
    const args = [
      ...['--port', String(port), '--bind', '127.0.0.1'],
      ...['--cluster-enabled', 'yes', '--cluster-port', String(bus)],
      ...['--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir],
      ...['--save', '', '--appendonly', 'no'],
      ...extra,
    ];
    const child = spawnRedis(args);
    if (port !== bus && (await answers(child, port))) return { child, port, args };
    await stopChild(child, 'SIGTERM');
    if (attempt >= ATTEMPTS) throw new Error(`cluster node did not start on port ${port}`);
  }
}
