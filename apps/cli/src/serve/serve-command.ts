import { z } from 'zod';
import {
  assertRedisReachable,
  commonSettings,
  connectRedis,
  createLogger,
  freePort,
  logFormat,
  QUEUE_BOARD_PATH,
  intSetting,
  LocalRedis,
  parseEnv,
  redactRedisUrl,
  RedisOutageLog,
  redisTarget,
  type RestartPolicy,
} from '@app/common';
import { ModelRegistry } from '@app/registry';
import { RedisKeeper } from './redis-keeper';
import { ServeConsole } from './serve-console';
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
 * Whatever ends it (Ctrl-C, SIGTERM, SIGHUP, its output going away, an error of its own), it
 * stops in order what it started: the API, then the workers, then its own Redis. Once the API
 * listens and every model's default version is served, it says so in one line.
 */
export async function serveCommand(options: { api: boolean }): Promise<void> {
  const config = parseEnv(serveSettings);
  // Until the stack's parts exist, a reason to end is kept; it is acted on as soon as they do.
  let endedEarly: { code: number; cause: string } | undefined;
  const earlyEnd = () => endedEarly;
  let end = (code: number, cause: string) => void (endedEarly ??= { code, cause });
  // The children lead process groups of their own: these signals reach serve alone.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
    process.on(signal, () => end(0, signal));
  const output = new ServeConsole(logFormat(config.LOG_FORMAT), (cause) => end(0, cause));
  // JSON lines: the console makes them pretty when it should (the children's lines too).
  const logger = createLogger('supervisor', config.LOG_LEVEL, 'json', output.destination);
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error }, 'serve failed: stopping what it started');
    end(1, 'an error of serve');
  });
  const restart: RestartPolicy = {
    backoffMs: config.RESTART_BACKOFF_MS,
    maxBackoffMs: Math.max(MAX_BACKOFF_MS, config.RESTART_BACKOFF_MS),
    maxStartFailures: config.MAX_START_FAILURES,
    stableMs: MAX_BACKOFF_MS,
  };
  // A cluster's nodes and a Sentinel's primary take REDIS_URL's user, password and TLS (none
  // when it is unset).
  const { REDIS_CLUSTER_NODES: clusterNodes, REDIS_SENTINELS: sentinels } = config;
  const external =
    config.REDIS_URL || clusterNodes.length || sentinels.length
      ? redisTarget({
          ...config,
          REDIS_URL: config.REDIS_URL ?? commonSettings.REDIS_URL.parse(undefined),
        })
      : undefined;
  // An unreachable Redis is one line and an exit, not a fleet of children retrying it.
  if (external) await assertRedisReachable(external);
  if (endedEarly) process.exit(endedEarly.code);
  const local = external
    ? undefined
    : await LocalRedis.start(config.REDIS_DATA_DIR, freePort, {
        appendfsync: config.REDIS_APPENDFSYNC,
        // Outside serve's process group: a Ctrl-C must not stop Redis before its users.
        detached: true,
      });
  // The last resort, should serve exit without stopping it: its Redis goes with it.
  process.on('exit', () => {
    if (local?.running) process.kill(local.pid, 'SIGTERM');
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
  // An outage reads as two lines, as it does in the API and the workers.
  new RedisOutageLog(
    logger.child(
      sentinels.length
        ? { sentinels: sentinels.join(','), sentinelName: config.REDIS_SENTINEL_NAME }
        : { url: redactRedisUrl(redisUrl) },
    ),
  ).watch(redis);
  const registry = new ModelRegistry(redis, config.KEY_PREFIX);

  let stopping = false;
  const stop = async (code: number, cause: string, failure?: string) => {
    if (stopping) return;
    stopping = true;
    if (failure) {
      logger.error({ reason: failure }, 'stopping: a process could not start');
      output.error(`modelfleet serve: ${failure}`);
    } else logger.info({ cause, graceMs: config.SHUTDOWN_GRACE_MS }, 'stopping');
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
    registry,
    {
      // The children write JSON lines, whatever serve's own format: serve reads them (the API's
      // ports, a child's last words) and makes them pretty when it should.
      env: { ...process.env, REDIS_URL: redisUrl, LOG_FORMAT: 'json' },
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
      onGiveUp: (reason) => void stop(1, 'a process could not start', reason),
      output,
    },
    logger,
  );
  const keeper = local
    ? new RedisKeeper(
        local,
        restart,
        logger,
        (reason) => void stop(1, 'the local Redis could not start', reason),
      )
    : undefined;
  end = (code, cause) => void stop(code, cause);
  // Read through a function: the compiler cannot know that a signal may have come meanwhile.
  const pending = earlyEnd();
  if (pending) return end(pending.code, pending.cause);
  if (!(await supervisor.start()) || !supervisor.apiPorts) return;
  await untilServed(registry, config.SUPERVISOR_POLL_MS, () => stopping);
  if (stopping) return;
  const ports = supervisor.apiPorts;
  const board = `http://${displayHost(process.env.API_HOST)}:${ports.managementPort}${QUEUE_BOARD_PATH}`;
  if (output.format === 'pretty') {
    output.say(
      `ready: inference on :${ports.port}, management on :${ports.managementPort}, ` +
        `metrics on :${ports.metricsPort}, gRPC on :${ports.grpcPort}, Bull Board at ${board}`,
    );
  } else logger.info({ ...ports, queueBoard: board }, 'ready');
}

/** Resolves once every model's default version has a live worker (what `/ping` waits for). */
async function untilServed(
  registry: ModelRegistry,
  pollMs: number,
  stopping: () => boolean,
): Promise<void> {
  while (!stopping()) {
    const problem = await registry.servingProblem().catch((error: Error) => error.message);
    if (problem === undefined) return;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** The host a person types to reach the API: `localhost` for loopback and wildcard interfaces. */
function displayHost(apiHost = '127.0.0.1'): string {
  if (['127.0.0.1', '0.0.0.0', '::', '::1', 'localhost', ''].includes(apiHost)) return 'localhost';
  return apiHost.includes(':') ? `[${apiHost}]` : apiHost;
}
