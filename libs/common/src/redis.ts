import { Redis, type RedisOptions } from 'ioredis';

/**
 * A Redis connection for BullMQ and the registry. `maxRetriesPerRequest: null` is what BullMQ
 * requires of connections used by workers; commands wait for a reconnect instead of failing.
 */
export function connectRedis(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, ...options });
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
