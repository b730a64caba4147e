import { Redis, type RedisOptions } from 'ioredis';

/**
 * A Redis connection for BullMQ and the registry. `maxRetriesPerRequest: null` is what BullMQ
 * requires of connections used by workers; commands wait for a reconnect instead of failing.
 */
export function connectRedis(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    enableAutoPipelining: true,
    ...options,
  });
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

/**
 * Fails with one line that names the Redis (password hidden) and the reason when it does not
 * answer a PING within `timeoutMs`: one try, no reconnect loop and no stack traces.
 */
export async function assertRedisReachable(url: string, timeoutMs = 5000): Promise<void> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
  });
  let lastError: Error | undefined;
  client.on('error', (error: Error) => (lastError ??= error));
  const timer = setTimeout(() => client.disconnect(), timeoutMs);
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    const reason = (lastError ?? (error as Error)).message || 'no answer';
    throw new Error(`cannot reach Redis at ${redactRedisUrl(url)}: ${reason}`);
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
export function connectRedisFailFast(url: string, commandTimeoutMs: number): Redis {
  return connectRedis(url, { enableOfflineQueue: false, commandTimeout: commandTimeoutMs });
}

/** Resolves once the connection is ready; `onWait` is called once if it is not at first. */
export async function redisReady(redis: Redis, onWait: (error?: Error) => void): Promise<void> {
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
  if (!(error instanceof Error) || error.name === 'ReplyError') return false;
  return /Command timed out|Connection is closed|Stream isn't writeable|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|Reached the max retries per request limit|connect ENOENT/.test(
    error.message,
  );
}
