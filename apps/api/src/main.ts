import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import express from 'express';
import { pinoHttp } from 'pino-http';
import { ConfigError, connectRedis, createLogger, type Logger } from '@app/common';
import { ModelRegistry } from '@app/registry';
import { loadApiConfig, type ApiConfig } from './config';
import { InferenceModule } from './inference.module';
import type { SharedServices } from './infra/shared';
import { managementToken } from './management/management-token';
import { ManagementModule } from './management/management.module';
import { ModelStore } from './management/model-store';

/** Creates one HTTP app with structured access logs and the body limits of the settings. */
async function createApp(
  module: unknown,
  config: ApiConfig,
  logger: Logger,
): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(module as never, {
    bodyParser: false,
    logger: ['error', 'warn'],
  });
  app.use(
    pinoHttp({
      logger,
      genReqId: (req, res) => {
        const id = (req.headers['x-request-id'] as string | undefined) ?? randomUUID();
        res.setHeader('x-request-id', id);
        return id;
      },
    }),
  );
  app.use(
    express.json({
      limit: config.MAX_BODY_BYTES,
      strict: false,
      type: ['application/json', '+json'],
    }),
  );
  app.use(express.text({ limit: config.MAX_BODY_BYTES, type: 'text/plain' }));
  app.enableShutdownHooks();
  return app;
}

async function bootstrap(): Promise<void> {
  const config = loadApiConfig();
  const logger = createLogger('api', config.LOG_LEVEL, config.LOG_PRETTY);
  const redis = connectRedis(config.REDIS_URL);
  const shared: SharedServices = {
    config,
    redis,
    registry: new ModelRegistry(redis, config.KEY_PREFIX),
  };
  const { token, createdFile } = managementToken(config);
  if (createdFile) logger.warn({ file: createdFile }, 'generated a management API token');
  if (!token) logger.warn('the management API is open: MANAGEMENT_AUTH is off');

  const management = await createApp(
    ManagementModule.forRoot(shared, token),
    config,
    logger.child({ app: 'management' }),
  );
  await management.get(ModelStore).registerConfigured();
  const inference = await createApp(
    InferenceModule.forRoot(shared),
    config,
    logger.child({ app: 'inference' }),
  );
  await management.listen(config.MANAGEMENT_PORT, config.API_HOST);
  await inference.listen(config.API_PORT, config.API_HOST);
  logger.info({ port: config.API_PORT, managementPort: config.MANAGEMENT_PORT }, 'API listening');

  let closing = false;
  const close = async (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'stopping');
    await Promise.all([inference.close(), management.close()]);
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
