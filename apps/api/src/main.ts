// First: a SIGTERM that comes while the API starts is kept, not fatal.
import { onStopSignal } from '@app/common/stop-signals';
import 'reflect-metadata';
import cluster from 'node:cluster';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ConfigError,
  JobWaiter,
  RedisUnreachableError,
  ReplyInbox,
  QueueProgress,
  RedisOutageLog,
  ReplicationBarrier,
  VersionQueues,
  connectRedis,
  connectRedisFailFast,
  backgroundStdout,
  createLogger,
  logFormat,
  exitAfterGrace,
  assertRedisReachable,
  defaultRedisNotice,
  redisReady,
  redisTarget,
  settingGiven,
  startOpsServer,
  type Logger,
} from '@app/common';
import { ModelRegistry } from '@app/registry';
import { reportListening, runApiPrimary, shareMetricsWithPrimary } from './api-processes';
import { loadApiConfig, type ApiConfig } from './config';
import { Acknowledgement } from './core/acknowledgement';
import { ConnectionDrain } from './core/connection-drain';
import { apiKeyGuard } from './core/auth';
import type { SharedServices } from './core/core.module';
import { createHttpApp } from './core/http-app';
import { GrpcServer } from './grpc/grpc-server';
import { FleetHealth } from './health/fleet-health';
import { ModelCatalog } from './core/model-catalog';
import { RedisProbe } from './core/redis-probe';
import { INFERENCE_API, MANAGEMENT_API, mountOpenApi } from './core/openapi';
import { InferenceModule } from './inference.module';
import { managementToken } from './management/management-token';
import { managementTokenGuard } from './management/management-auth';
import { ManagementModule } from './management/management.module';
import { ModelPackages } from './management/model-packages';
import { mountQueueBoard } from './management/queue-board';
import { ApiMetrics } from './metrics/api-metrics';
import { SyncPredictionService } from './predictions/sync-prediction.service';
import { OpenInferenceService } from './v2/open-inference.service';

/** The port a listening server is bound to. */
const portOf = (server: Pick<Server, 'address'>) => (server.address() as AddressInfo).port;

/** One API process: several (API_PROCESSES) run under a primary that forks them (api-processes.ts). */
async function start(): Promise<void> {
  const config = loadApiConfig();
  // JSON lines go out in the background: a slow stdout does not stall requests (logger.ts).
  const logger = createLogger(
    'api',
    config.LOG_LEVEL,
    config.LOG_FORMAT,
    logFormat(config.LOG_FORMAT) === 'json' ? backgroundStdout() : undefined,
  );
  if (cluster.isPrimary && config.API_PROCESSES > 1) return runApiPrimary(config, logger);
  return bootstrap(config, logger);
}

async function bootstrap(config: ApiConfig, logger: Logger): Promise<void> {
  // One of several on the same ports: the primary serves the metrics port.
  const several = cluster.isWorker;
  // Request handling answers 503 at once while Redis is away; queue consumers and job listeners
  // wait on a connection of their own for it to come back.
  const target = redisTarget(config);
  const notice = defaultRedisNotice(config.REDIS_URL, settingGiven);
  if (notice) logger.warn(notice);
  // No Redis is one line and exit 1, as for `modelfleet serve`, not an API that waits in silence.
  await assertRedisReachable(target);
  const redis = connectRedisFailFast(target, config.REDIS_COMMAND_TIMEOUT_MS);
  const consumerRedis = connectRedis(target);
  // REDIS_ACK_REPLICAS: its WAITs block a connection of their own, never the request connection.
  const ackRedis =
    config.REDIS_ACK_REPLICAS > 0
      ? connectRedisFailFast(target, config.REDIS_COMMAND_TIMEOUT_MS + config.REDIS_ACK_TIMEOUT_MS)
      : undefined;
  // The connections reconnect by themselves; an outage reads as two lines, not one per attempt.
  const outages = new RedisOutageLog(logger).watch(redis).watch(consumerRedis);
  if (ackRedis) outages.watch(ackRedis);
  // It answered a moment ago: this waits for the connection's handshake, not for a Redis.
  await redisReady(redis, (error) =>
    logger.warn({ reason: error?.message }, 'waiting for Redis to start the API'),
  );
  const registry = new ModelRegistry(redis, config.KEY_PREFIX);
  const queues = new VersionQueues(redis, config.KEY_PREFIX);
  const metrics = new ApiMetrics(registry, queues);
  // This process's own reply channel: workers publish the answers it waits for there alone.
  const inbox = new ReplyInbox(consumerRedis, config.KEY_PREFIX, (awaited) =>
    metrics.jobReplies.inc({ outcome: awaited ? 'awaited' : 'unawaited' }),
  );
  await inbox.open();
  const shared: SharedServices = {
    config,
    logger,
    redis,
    consumerRedis,
    registry,
    queues,
    progress: new QueueProgress(redis, config.KEY_PREFIX),
    waiter: new JobWaiter(consumerRedis, queues, inbox),
    catalog: new ModelCatalog(registry),
    metrics,
    acknowledgement: new Acknowledgement(
      ackRedis &&
        new ReplicationBarrier(ackRedis, config.REDIS_ACK_REPLICAS, config.REDIS_ACK_TIMEOUT_MS),
    ),
  };
  const { token, createdFile, whereabouts } = managementToken(config);
  if (createdFile) logger.warn({ file: createdFile }, 'generated a management API token');
  if (!token) logger.warn('the management API is open: MANAGEMENT_AUTH is off');

  const management = await createHttpApp(
    'management',
    ManagementModule.forRoot(shared),
    shared,
    managementTokenGuard(token, whereabouts),
  );
  await mountQueueBoard(management, shared);
  mountOpenApi(management, MANAGEMENT_API);
  await management.get(ModelPackages).registerConfigured();
  const inference = await createHttpApp(
    'inference',
    InferenceModule.forRoot(shared),
    shared,
    apiKeyGuard(config.API_KEY),
  );
  mountOpenApi(inference, INFERENCE_API);
  const drains = [inference, management].map((app) => new ConnectionDrain(app.getHttpServer()));
  const host = config.API_HOST;
  await listenAs('MANAGEMENT_PORT', config.MANAGEMENT_PORT, host, () =>
    management.listen(config.MANAGEMENT_PORT, host),
  );
  await listenAs('API_PORT', config.API_PORT, host, () => inference.listen(config.API_PORT, host));
  if (several) shareMetricsWithPrimary(shared.metrics.registry);
  const ops = several
    ? undefined
    : await listenAs('METRICS_PORT', config.METRICS_PORT, host, () =>
        startOpsServer(config.METRICS_PORT, host, shared.metrics.registry, {
          readiness: () => new RedisProbe(redis).problem(),
        }),
      );
  const grpc = await GrpcServer.start({
    host: config.API_HOST,
    port: config.GRPC_PORT,
    apiKey: config.API_KEY,
    maxMessageBytes: config.MAX_BODY_BYTES,
    maxTexts: config.MAX_TEXTS_PER_REQUEST,
    accessLog: config.ACCESS_LOG,
    logger,
    inference: inference.get(OpenInferenceService),
    predictions: inference.get(SyncPredictionService),
    health: inference.get(FleetHealth),
    metrics,
  });
  // The ports bound, not the ones asked for: with 0 the OS picks, and this line says which.
  const ports = {
    port: portOf(inference.getHttpServer()),
    managementPort: portOf(management.getHttpServer()),
    grpcPort: grpc.port,
  };
  if (several) {
    logger.info(ports, 'API process listening');
    reportListening(ports);
  } else logger.info({ ...ports, metricsPort: portOf(ops!) }, 'API listening');

  let closing = false;
  const close = async (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'stopping');
    // Bounded: with Redis gone, closing the queues and the waiter never ends.
    exitAfterGrace(logger, config.SHUTDOWN_GRACE_MS, 'requests in flight');
    // Stop taking requests on kept-alive connections too: each one still open ends after the
    // answer it is writing, that of a request in hand included (a closing server would otherwise
    // keep serving them, and wait for the client to hang up).
    drains.forEach((drain) => drain.drain());
    // gRPC calls in flight finish first: they need the waiter, queues and Redis below.
    await grpc.stop();
    // Closing the inference app then stops its queue consumers (jobs in hand finish).
    await inference.close();
    await management.close();
    ops?.close();
    await shared.waiter.close();
    await queues.close();
    await Promise.all([redis.quit(), consumerRedis.quit(), ackRedis?.quit()]);
    process.exit(0);
  };
  // A signal that came while the API started stops it now.
  onStopSignal((signal) => void close(signal));
}

/**
 * Binds a port; one already taken (or not this user's to take) stops the API with a one-line
 * `ConfigError` naming the setting to change, instead of a stack trace.
 */
async function listenAs<T>(
  setting: string,
  port: number,
  host: string,
  listen: () => Promise<T>,
): Promise<T> {
  try {
    return await listen();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EADDRINUSE' && code !== 'EACCES') throw error;
    const why =
      code === 'EADDRINUSE'
        ? 'is already in use by another process'
        : 'may not be bound by this user';
    throw new ConfigError(
      `invalid settings:\n  ${setting}: ${host}:${port} ${why} (${code}); stop that process or ` +
        `choose another port (${setting}=<port>, 0 for any free one)`,
    );
  }
}

start().catch((error: unknown) => {
  const message =
    error instanceof ConfigError || error instanceof RedisUnreachableError
      ? error.message
      : error instanceof Error
        ? error.stack
        : String(error);
  process.stderr.write(`api: ${message}\n`);
  process.exit(1);
});
