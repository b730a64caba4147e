import 'reflect-metadata';
import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ConfigError,
  JobWaiter,
  VersionQueues,
  connectRedis,
  createLogger,
  startOpsServer,
} from '@app/common';
import { ModelRegistry } from '@app/registry';
import { loadApiConfig } from './config';
import { requireApiKey } from './core/auth';
import type { SharedServices } from './core/core.module';
import { createHttpApp } from './core/http-app';
import { ModelCatalog } from './core/model-catalog';
import { mountOpenApi } from './core/openapi';
import { InferenceModule } from './inference.module';
import { managementToken } from './management/management-token';
import { requireManagementToken } from './management/management-auth';
import { ManagementModule } from './management/management.module';
import { ModelPackages } from './management/model-packages';
import { mountQueueBoard } from './management/queue-board';
import { ApiMetrics } from './metrics/api-metrics';

/** The port a listening server is bound to. */
const portOf = (server: Pick<Server, 'address'>) => (server.address() as AddressInfo).port;

async function bootstrap(): Promise<void> {
  const config = loadApiConfig();
  const logger = createLogger('api', config.LOG_LEVEL, config.LOG_PRETTY);
  const redis = connectRedis(config.REDIS_URL);
  const registry = new ModelRegistry(redis, config.KEY_PREFIX);
  const queues = new VersionQueues(redis, config.KEY_PREFIX);
  const shared: SharedServices = {
    config,
    logger,
    redis,
    registry,
    queues,
    waiter: new JobWaiter(redis, queues),
    catalog: new ModelCatalog(registry),
    metrics: new ApiMetrics(registry, queues),
  };
  const { token, createdFile } = managementToken(config);
  if (createdFile) logger.warn({ file: createdFile }, 'generated a management API token');
  if (!token) logger.warn('the management API is open: MANAGEMENT_AUTH is off');

  const management = await createHttpApp(
    'management',
    ManagementModule.forRoot(shared),
    shared,
    requireManagementToken(token),
  );
  mountQueueBoard(management, shared);
  mountOpenApi(
    management,
    'modelfleet management API',
    'Model versions, defaults, traffic splits and worker ranges.',
  );
  await management.get(ModelPackages).registerConfigured();
  const inference = await createHttpApp(
    'inference',
    InferenceModule.forRoot(shared),
    shared,
    requireApiKey(config.API_KEY),
  );
  mountOpenApi(
    inference,
    'modelfleet inference API',
    'Sync (TorchServe-compatible) and async predictions.',
  );
  await management.listen(config.MANAGEMENT_PORT, config.API_HOST);
  await inference.listen(config.API_PORT, config.API_HOST);
  const ops = await startOpsServer(config.METRICS_PORT, config.API_HOST, shared.metrics.registry, {
    readiness: () =>
      redis.ping().then(
        () => undefined,
        (error: Error) => `Redis is unreachable: ${error.message}`,
      ),
  });
  // The ports bound, not the ones asked for: with 0 the OS picks, and this line says which.
  logger.info(
    {
      port: portOf(inference.getHttpServer()),
      managementPort: portOf(management.getHttpServer()),
      metricsPort: portOf(ops),
    },
    'API listening',
  );

  let closing = false;
  const close = async (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'stopping');
    // Stop taking requests on kept-alive connections too: each one still open ends after the
    // answer it is writing (a closing server would otherwise keep serving them).
    const server = inference.getHttpServer() as Server;
    server.prependListener('request', (_request, response: ServerResponse) =>
      response.setHeader('connection', 'close'),
    );
    server.closeIdleConnections();
    // Closing the inference app first stops its queue consumers (jobs in hand finish).
    await inference.close();
    await management.close();
    ops.close();
    await shared.waiter.close();
    await queues.close();
    await redis.quit();
    process.exit(0);
  };
  process.on('SIGTERM', () => void close('SIGTERM'));
  process.on('SIGINT', () => void close('SIGINT'));
}

bootstrap().catch((error: unknown) => {
  const message =
    error instanceof ConfigError
      ? error.message
      : error instanceof Error
        ? error.stack
        : String(error);
  process.stderr.write(`api: ${message}\n`);
  process.exit(1);
});
