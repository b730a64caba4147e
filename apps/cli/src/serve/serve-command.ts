import { z } from 'zod';
import {
  assertRedisReachable,
  commonSettings,
  connectRedis,
  createLogger,
  freePort,
  intSetting,
  LocalRedis,
  parseEnv,
  redactRedisUrl,
  type Logger,
  type RedisConnection,
} from '@app/common';
import { ModelRegistry } from '@app/registry';
import { RedisKeeper } from './redis-keeper';
import type { RestartPolicy } from './restart-policy';
import { Supervisor } from './supervisor';

/** Settings of `modelfleet serve`, beside those the API and workers read themselves. */
export const serveSettings = z.object({
  ...commonSettings,
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must start with redis:// or rediss://')
    .optional(),
  REDIS_DATA_DIR: z.string().default('.data/redis'),
  /** How often the local Redis fsyncs its append-only file (see docs/operations.md, Durability). */
  REDIS_APPENDFSYNC: z.enum(['everysec', 'always']).default('everysec'),
  SCALE_UP_BACKLOG: intSetting(64, 1),
  SCALE_UP_WAIT_MS: intSetting(2000, 1),
  SCALE_DOWN_IDLE_MS: intSetting(30_000, 0),
  SCALE_COOLDOWN_MS: intSetting(10_000, 0),
  SUPERVISOR_POLL_MS: intSetting(1000, 50),
  /** First delay before a crashed child is restarted; it doubles with each crash in a row. */
  RESTART_BACKOFF_MS: intSetting(1000, 10),
  /** Exits in a row before a child started, after which serve stops. */
  MAX_START_FAILURES: intSetting(3, 1),
});

/** Longest delay between restarts, and the uptime after which a crash counts as the first. */
const MAX_BACKOFF_MS = 30_000;

/**
 * Brings up a whole local deployment: Redis (REDIS_URL, or a redis-server started here with
 * its data in REDIS_DATA_DIR), the API, and autoscaled workers, each restarted when it dies.
 * Stops in order on Ctrl-C, SIGTERM or SIGHUP: the API, then the workers, then its own Redis.
 */
export async function serveCommand(options: { api: boolean }): Promise<void> {
  const config = parseEnv(serveSettings);
  const logger = createLogger('supervisor', config.LOG_LEVEL, config.LOG_PRETTY);
  const restart: RestartPolicy = {
    backoffMs: config.RESTART_BACKOFF_MS,
    maxBackoffMs: Math.max(MAX_BACKOFF_MS, config.RESTART_BACKOFF_MS),
    maxStartFailures: config.MAX_START_FAILURES,
    stableMs: MAX_BACKOFF_MS,
  };
  // A cluster's nodes take REDIS_URL's user, password and TLS (none when it is unset).
  const clusterNodes = config.REDIS_CLUSTER_NODES;
  const external =
    config.REDIS_URL || clusterNodes.length
      ? { url: config.REDIS_URL ?? commonSettings.REDIS_URL.parse(undefined), clusterNodes }
      : undefined;
  // An unreachable Redis is one line and an exit, not a fleet of children retrying it.
  if (external) await assertRedisReachable(external);
  const local = external
    ? undefined
    : await LocalRedis.start(config.REDIS_DATA_DIR, freePort, {
        appendfsync: config.REDIS_APPENDFSYNC,
        // Outside serve's process group: a Ctrl-C must not stop Redis before its users.
        detached: true,
      });
  const redisUrl = external?.url ?? local!.url;
  if (local) {
    logger.info(
      {
        url: redisUrl,
        redisPid: local.pid,
        dataDir: config.REDIS_DATA_DIR,
        appendfsync: config.REDIS_APPENDFSYNC,
      },
      'started a local redis-server',
    );
  }
  const redis = connectRedis(external ?? { url: redisUrl });
  reportOutages(redis, redisUrl, logger);

  let stopping = false;
  const stop = async (code: number, reason?: string) => {
    if (stopping) return;
    stopping = true;
    if (reason) {
      logger.error({ reason }, 'stopping: a process could not start');
      process.stderr.write(`modelfleet serve: ${reason}\n`);
    } else logger.info({ graceMs: config.SHUTDOWN_GRACE_MS }, 'stopping');
    const clean = await supervisor.stop(Date.now() + config.SHUTDOWN_GRACE_MS);
    redis.disconnect();
    if (keeper) {
      await keeper.stop();
      logger.info('stopped the local redis-server');
    }
    logger.info({ clean }, 'stopped');
    process.exit(code || (clean ? 0 : 1));
  };
  const supervisor = new Supervisor(
    redis,
    new ModelRegistry(redis, config.KEY_PREFIX),
    {
      env: { ...process.env, REDIS_URL: redisUrl },
      prefix: config.KEY_PREFIX,
      pollMs: config.SUPERVISOR_POLL_MS,
      withApi: options.api,
      policy: {
        upBacklogPerWorker: config.SCALE_UP_BACKLOG,
        upWaitMs: config.SCALE_UP_WAIT_MS,
        downIdleMs: config.SCALE_DOWN_IDLE_MS,
        cooldownMs: config.SCALE_COOLDOWN_MS,
      },
      restart,
      onGiveUp: (reason) => void stop(1, reason),
    },
    logger,
  );
  const keeper = local
    ? new RedisKeeper(local, restart, logger, (reason) => void stop(1, reason))
    : undefined;
  // The children lead process groups of their own: these signals reach serve alone.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
    process.on(signal, () => void stop(0));
  await supervisor.start();
}

/** Logs when Redis stops answering and when it is back, once each, instead of every retry. */
function reportOutages(redis: RedisConnection, url: string, logger: Logger): void {
  let down = false;
  redis.on('error', (error: Error) => {
    if (down) return;
    down = true;
    logger.warn({ url: redactRedisUrl(url), reason: error.message }, 'Redis is unreachable');
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    logger.info({ url: redactRedisUrl(url) }, 'Redis answers again');
  });
}
