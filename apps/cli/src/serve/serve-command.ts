import { z } from 'zod';
import {
  commonSettings,
  connectRedis,
  createLogger,
  intSetting,
  LocalRedis,
  parseEnv,
} from '@app/common';
import { ModelRegistry } from '@app/registry';
import { Supervisor } from './supervisor';

/** Settings of `modelfleet serve`, beside those the API and workers read themselves. */
export const serveSettings = z.object({
  ...commonSettings,
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must start with redis:// or rediss://')
    .optional(),
  REDIS_DATA_DIR: z.string().default('.data/redis'),
  SCALE_UP_BACKLOG: intSetting(64, 1),
  SCALE_UP_WAIT_MS: intSetting(2000, 1),
  SCALE_DOWN_IDLE_MS: intSetting(30_000, 0),
  SCALE_COOLDOWN_MS: intSetting(10_000, 0),
  SUPERVISOR_POLL_MS: intSetting(1000, 50),
});

/**
 * Brings up a whole local deployment: Redis (REDIS_URL, or a redis-server started here with
 * its data in REDIS_DATA_DIR), the API, and autoscaled workers. Stops everything on Ctrl-C.
 */
export async function serveCommand(options: { api: boolean }): Promise<void> {
  const config = parseEnv(serveSettings);
  const logger = createLogger('supervisor', config.LOG_LEVEL, config.LOG_PRETTY);
  const local = config.REDIS_URL ? undefined : await LocalRedis.start(config.REDIS_DATA_DIR);
  const redisUrl = config.REDIS_URL ?? local!.url;
  if (local)
    logger.info({ url: redisUrl, dataDir: config.REDIS_DATA_DIR }, 'started a local redis-server');
  const redis = connectRedis(redisUrl);
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
    },
    logger,
  );
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping');
    await supervisor.stop();
    await redis.quit();
    await local?.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  await supervisor.start();
}
