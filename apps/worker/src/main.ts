// First: a SIGTERM that comes while the worker starts is kept, not fatal.
import { onStopSignal } from '@app/common/stop-signals';
import { hostname } from 'node:os';
import {
  connectRedis,
  createLogger,
  defaultRedisNotice,
  exitAfterGrace,
  redisTarget,
  settingGiven,
  startOpsServer,
} from '@app/common';
import { loadWorkerConfig } from './config';
import { WorkerProcess } from './worker-process';

async function main(): Promise<void> {
  const config = loadWorkerConfig();
  const logger = createLogger('worker', config.LOG_LEVEL, config.LOG_FORMAT).child({
    worker: config.WORKER_ID,
  });
  logger.info('worker starting');
  const notice = defaultRedisNotice(config.REDIS_URL, settingGiven);
  if (notice) logger.warn(notice);
  const redis = connectRedis(redisTarget(config));
  // Set below: a worker whose threads die too often stops as on SIGTERM, then exits with 1.
  let stop: (signal: string, code?: number) => Promise<void> = () => Promise.resolve();
  const worker = new WorkerProcess(redis, config, logger, (error) => {
    logger.fatal({ err: error }, 'giving up: the worker exits so that it is replaced');
    void stop('fatal', 1);
  });
  const ops = await startOpsServer(
    config.WORKER_METRICS_PORT,
    config.WORKER_METRICS_HOST,
    worker.metrics.registry,
    {
      readiness: () => worker.readiness(),
    },
  );
  let stopping = false;
  stop = async (signal: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: finishing jobs in hand');
    // Bounded: with Redis gone, finishing jobs in hand never ends. Jobs still held go back to
    // their queue once their locks expire (another worker's stalled-job check).
    exitAfterGrace(logger, config.SHUTDOWN_GRACE_MS, 'jobs in hand');
    try {
      await worker.stop();
      ops.close();
      await redis.quit();
    } catch (error) {
      logger.error({ err: error }, 'stop failed');
      process.exit(1);
    }
    logger.info({ code }, 'stopped');
    process.exit(code);
  };
  // A signal that came while the worker started stops it now, and it exits 0 as after any stop.
  onStopSignal((signal) => void stop(signal));
  if (stopping) return;
  const opsPort = (ops.address() as { port: number }).port;
  // A wildcard interface is reached by the host's name.
  const host = ['0.0.0.0', '::'].includes(config.WORKER_METRICS_HOST)
    ? hostname()
    : config.WORKER_METRICS_HOST;
  worker.metricsUrl = `http://${host.includes(':') ? `[${host}]` : host}:${opsPort}/metrics`;
  try {
    await worker.start();
  } catch (error) {
    // Told to stop meanwhile: the stop under way decides how the process ends.
    if (stopping) return;
    throw error;
  }
  if (stopping) return;
  logger.info({ serving: worker.serving, opsPort }, 'worker started');
}

main().catch((error: unknown) => {
  process.stderr.write(`worker: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
