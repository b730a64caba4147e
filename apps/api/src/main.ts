import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import express from 'express';
import { pinoHttp } from 'pino-http';
import { ConfigError, connectRedis, createLogger, startOpsServer, type Logger } from '@app/common';
import { ModelRegistry } from '@app/registry';
import { loadApiConfig } from './config';
import { InferenceModule } from './inference.module';
import { QueueHub } from './infra/queue-hub';
import type { SharedServices } from './infra/shared';
import { managementToken } from './management/management-token';
import { ManagementModule } from './management/management.module';
import { ModelStore } from './management/model-store';
import { mountQueueBoard } from './management/queue-board';
import { ApiMetrics } from './metrics/api-metrics';
import { mountOpenApi } from './openapi';

/** Creates one HTTP app with access logs, request metrics and the body limits of the settings. */
async function createApp(
  name: string,
  module: unknown,
  shared: SharedServices,
  logger: Logger,
): Promise<NestExpressApplication> {
  const { config, metrics } = shared;
  const app = await NestFactory.create<NestExpressApplication>(module as never, {
    bodyParser: false,
    logger: ['error', 'warn'],
  });
  app.use(
    pinoHttp({
      logger,
      // One short line per request: headers would cost time and could carry secrets.
      serializers: {
        req: (req: { id: string; method: string; url: string }) => ({
          id: req.id,
          method: req.method,
          url: req.url,
        }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      genReqId: (req, res) => {
        const id = (req.headers['x-request-id'] as string | undefined) ?? randomUUID();
        res.setHeader('x-request-id', id);
        return id;
      },
    }),
  );
  app.use((req: express.Request, res: express.Response, next: express.NextFunction) => {
    res.once('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      metrics.httpRequests.inc({
        app: name,
        route,
        method: req.method,
        status: String(res.statusCode),
      });
    });
    next();
  });
  app.use(
    express.json({
      limit: config.MAX_BODY_BYTES,
      strict: false,
      type: ['application/json', '+json'],
    }),
  );
  // Dataset uploads to /v1/batches: CSV or JSONL bodies, under their own size limit.
  app.use(
    '/v1/batches',
    express.text({
      limit: config.BATCH_MAX_BYTES,
      type: ['text/csv', 'application/x-ndjson', 'application/jsonl'],
    }),
  );
  app.use(express.text({ limit: config.MAX_BODY_BYTES, type: 'text/plain' }));
  return app;
}

/** The port a listening server is bound to. */
const portOf = (server: Pick<Server, 'address'>) => (server.address() as AddressInfo).port;

async function bootstrap(): Promise<void> {
  const config = loadApiConfig();
  const logger = createLogger('api', config.LOG_LEVEL, config.LOG_PRETTY);
  const redis = connectRedis(config.REDIS_URL);
  const registry = new ModelRegistry(redis, config.KEY_PREFIX);
  const queues = new QueueHub(redis, config);
  const metrics = new ApiMetrics(registry, (name) => queues.queue(name));
  const shared: SharedServices = { config, redis, registry, metrics, queues };
  const { token, createdFile } = managementToken(config);
  if (createdFile) logger.warn({ file: createdFile }, 'generated a management API token');
  if (!token) logger.warn('the management API is open: MANAGEMENT_AUTH is off');

  const management = await createApp(
    'management',
    ManagementModule.forRoot(shared, token),
    shared,
    logger,
  );
  mountQueueBoard(management, shared, token);
  mountOpenApi(
    management,
    'modelfleet management API',
    'Model versions, defaults, traffic splits and worker ranges.',
  );
  await management.get(ModelStore).registerConfigured();
  const inference = await createApp('inference', InferenceModule.forRoot(shared), shared, logger);
  mountOpenApi(
    inference,
    'modelfleet inference API',
    'Sync (TorchServe-compatible) and async predictions.',
  );
  await management.listen(config.MANAGEMENT_PORT, config.API_HOST);
  await inference.listen(config.API_PORT, config.API_HOST);
  const ops = await startOpsServer(config.METRICS_PORT, config.API_HOST, metrics.registry, {
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
    await queues.stopProcessing();
    await Promise.all([inference.close(), management.close()]);
    ops.close();
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
