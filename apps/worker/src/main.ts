import { connectRedis, createLogger, startOpsServer } from '@app/common';
import { loadWorkerConfig } from './config';
import { WorkerProcess } from './worker-process';

async function main(): Promise<void> {
  const config = loadWorkerConfig();
  const logger = createLogger('worker', config.LOG_LEVEL, config.LOG_PRETTY).child({
    worker: config.WORKER_ID,
  });
  const redis = connectRedis(config.REDIS_URL);
  const worker = new WorkerProcess(redis, config, logger);
  const ops = await startOpsServer(
    config.WORKER_METRICS_PORT,
    config.WORKER_METRICS_HOST,
    worker.metrics.registry,
    {
      readiness: () => worker.readiness(),
    },
  );
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: finishing jobs in hand');
    // Bounded: with Redis gone, finishing jobs in hand never ends. Jobs still held go back to
    // their queue once their locks expire (another worker's stalled-job check).
    setTimeout(() => {
      logger.error(
        { graceMs: config.SHUTDOWN_GRACE_MS },
        'stop took longer than SHUTDOWN_GRACE_MS: exiting with jobs in hand',
      );
      process.exit(1);
    }, config.SHUTDOWN_GRACE_MS).unref();
    await worker.stop();
    ops.close();
    await redis.quit();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  await worker.start();
  const opsPort = (ops.address() as { port: number }).port;
  logger.info({ serving: worker.serving, opsPort }, 'worker started');
}

main().catch((error: unknown) => {
  process.stderr.write(`worker: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
