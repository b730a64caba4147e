import { Cluster, Redis, type RedisOptions } from 'ioredis';

/**
 * Where the deployment's Redis is: one server at `url`; or, when `clusterNodes` (`host:port`
 * each) is not empty, a Redis Cluster found through those nodes; or, when `sentinels` is not
 * empty, the primary those Sentinels name `sentinelName` (followed through failovers). Cluster
 * nodes and a Sentinel's primary are reached with the user, password and TLS (`rediss://`) of
 * `url`.
 */
export interface RedisTarget {
  url: string;
  clusterNodes?: readonly string[];
  sentinels?: readonly string[];
  sentinelName?: string;
}

/** A connection to one Redis server, or to a Redis Cluster. */
export type RedisConnection = Redis | Cluster;

/** The target named by the settings every process reads. */
export function redisTarget(settings: {
  REDIS_URL: string;
  REDIS_CLUSTER_NODES: readonly string[];
  REDIS_SENTINELS?: readonly string[];
  REDIS_SENTINEL_NAME?: string;
}): RedisTarget {
  return {
    url: settings.REDIS_URL,
    clusterNodes: settings.REDIS_CLUSTER_NODES,
    sentinels: settings.REDIS_SENTINELS ?? [],
    sentinelName: settings.REDIS_SENTINEL_NAME,
  };
}

/** True for a connection to a Redis Cluster. */
export function isCluster(connection: RedisConnection): connection is Cluster {
  return connection instanceof Cluster;
}

/**
 * A Redis connection for BullMQ and the registry. `maxRetriesPerRequest: null` is what BullMQ
 * requires of connections used by workers; commands wait for a reconnect instead of failing.
 */
export function connectRedis(url: string, options?: RedisOptions): Redis;
export function connectRedis(target: RedisTarget, options?: RedisOptions): RedisConnection;
export function connectRedis(
  target: string | RedisTarget,
  options: RedisOptions = {},
): RedisConnection {
  const { url, clusterNodes = [] } = typeof target === 'string' ? { url: target } : target;
  const settings: RedisOptions = {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    // No auto-pipelining: measured here, it held each command for a turn of the event loop and
    // cost a lone caller 0.5 ms and the API and worker more CPU per request, not less.
    ...options,
  };
  if (typeof target !== 'string' && target.sentinels?.length)
    return new Redis(sentinelOptions(target, settings));
  if (clusterNodes.length === 0) return new Redis(url, settings);
  // The offline queue and the ready check belong to the cluster; the rest to each node.
  const { enableOfflineQueue, enableReadyCheck, ...node } = settings;
  return new Cluster(clusterNodes.map(clusterNode), {
    enableOfflineQueue,
    enableReadyCheck,
    redisOptions: { ...node, ...credentials(url) },
  });
}

/** Name of the primary the Sentinels watch when REDIS_SENTINEL_NAME is unset. */
export const DEFAULT_SENTINEL_NAME = 'mymaster';

/**
 * A Sentinel-managed connection: ioredis asks the Sentinels which server is the primary, checks
 * that it says so (ROLE), and asks again on every reconnect. It also listens to the Sentinels'
 * `+switch-master` and drops its connection the moment they promote a replica, so that a
 * primary that hangs (or is cut off) without closing its sockets is left at once, not once it
 * answers again; a write refused as READONLY (a demoted primary) drops the connection too.
 */
function sentinelOptions(target: RedisTarget, settings: RedisOptions): RedisOptions {
  const { username, password, tls } = credentials(target.url);
  return {
    ...settings,
    sentinels: (target.sentinels ?? []).map(clusterNode),
    name: target.sentinelName || DEFAULT_SENTINEL_NAME,
    role: 'master',
    username,
    password,
    // The Sentinels share the primary's password, as most deployments run them.
    sentinelPassword: password,
    ...(tls ? { tls, enableTLSForSentinelMode: true } : {}),
    failoverDetector: true,
    reconnectOnError: (error) => error.message.startsWith('READONLY'),
  };
}

/** `host:port` (an IPv6 host in brackets) as ioredis takes it. */
function clusterNode(hostPort: string): { host: string; port: number } {
  const at = hostPort.lastIndexOf(':');
  return {
    host: hostPort.slice(0, at).replace(/^\[(.*)\]$/, '$1'),
    port: Number(hostPort.slice(at + 1)),
  };
}

/** The user, password and TLS that `url` names, for the nodes of a cluster. */
function credentials(url: string): RedisOptions {
  const parsed = new URL(url);
  return {
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/** `url` without its password, fit for a log line or an error message. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return 'an unparsable REDIS_URL';
  }
}

/** A Redis that did not answer a PING: its message is the one line to show, no stack. */
export class RedisUnreachableError extends Error {}

/**
 * The line a process logs at start when none of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS is set (in
 * the environment or the MODELFLEET_CONFIG file, as `given` tells) and it uses the default
 * Redis, which on a shared machine may be someone else's: which one, and how to choose.
 */
export function defaultRedisNotice(
  url: string,
  given: (key: string) => boolean,
): string | undefined {
  if (given('REDIS_URL') || given('REDIS_CLUSTER_NODES') || given('REDIS_SENTINELS'))
    return undefined;
  return `REDIS_URL is not set: using the Redis at ${redactRedisUrl(url)} (set REDIS_URL to choose another)`;
}

/**
 * Fails with one line that names the Redis (password hidden) and the reason when it does not
 * answer a PING within `timeoutMs`: one try, no reconnect loop and no stack traces. Of a
 * cluster, one of the nodes named must answer.
 */
export async function assertRedisReachable(
  target: string | RedisTarget,
  timeoutMs = 5000,
): Promise<void> {
  const { url, clusterNodes = [] } = typeof target === 'string' ? { url: target } : target;
  const once: RedisOptions = {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
  };
  if (typeof target !== 'string' && target.sentinels?.length) {
    const options = sentinelOptions(target, { ...once, sentinelRetryStrategy: () => null });
    const name = `the primary "${options.name}" of Sentinels ${target.sentinels.join(',')}`;
    return pingOnce(new Redis({ ...options, failoverDetector: false }), name, timeoutMs);
  }
  if (clusterNodes.length === 0)
    return pingOnce(new Redis(url, once), redactRedisUrl(url), timeoutMs);
  let last: Error | undefined;
  for (const hostPort of clusterNodes) {
    const node = { ...clusterNode(hostPort), ...credentials(url), ...once };
    try {
      return await pingOnce(new Redis(node), `cluster node ${hostPort}`, timeoutMs);
    } catch (error) {
      last = error as Error;
    }
  }
  throw last!;
}

async function pingOnce(client: Redis, name: string, timeoutMs: number): Promise<void> {
  let lastError: Error | undefined;
  client.on('error', (error: Error) => (lastError ??= error));
  const timer = setTimeout(() => client.disconnect(), timeoutMs);
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    const reason = (lastError ?? (error as Error)).message || 'no answer';
    throw new RedisUnreachableError(`cannot reach Redis at ${name}: ${reason}`);
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}

/**
 * A connection for request handling, which must answer rather than wait: while Redis is
 * unreachable its commands fail at once (no offline queue), and a command Redis does not answer
 * within `commandTimeoutMs` fails too (a Redis that hangs). It reconnects by itself. Never for
 * BullMQ consumers or listeners, whose blocking commands outlast any such timeout.
 */
export function connectRedisFailFast(
  target: RedisTarget,
  commandTimeoutMs: number,
): RedisConnection {
  return connectRedis(target, { enableOfflineQueue: false, commandTimeout: commandTimeoutMs });
}

/** Resolves once the connection is ready; `onWait` is called once if it is not at first. */
export async function redisReady(
  redis: RedisConnection,
  onWait: (error?: Error) => void,
): Promise<void> {
  if (redis.status === 'ready') return;
  let told = false;
  await new Promise<void>((resolve) => {
    const onError = (error: Error) => {
      if (!told) onWait(error);
      told = true;
    };
    redis.on('error', onError);
    redis.once('ready', () => {
      redis.off('error', onError);
      resolve();
    });
  });
}

/** True for the errors of a Redis that is unreachable or does not answer (not a Redis reply). */
export function isRedisUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  // Replies of a server that cannot take the command now: a demoted primary (READONLY), one
  // loading its data, a replica cut off from its primary, a cluster mid-failover.
  if (error.name === 'ReplyError')
    return /^(READONLY|LOADING|MASTERDOWN|CLUSTERDOWN|TRYAGAIN) /.test(error.message);
  return /Command timed out|Connection is closed|Stream isn't writeable|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|Reached the max retries per request limit|connect ENOENT|All sentinels are unreachable/.test(
    error.message,
  );
}
