import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import express from 'express';
import { pinoHttp } from 'pino-http';
import { ConfigError, createLogger } from '@app/common';
import { AppModule } from './app.module';
import { loadApiConfig } from './config';
import { ModelStore } from './models/model-store';

async function bootstrap(): Promise<void> {
  const config = loadApiConfig();
  const logger = createLogger('api', config.LOG_LEVEL, config.LOG_PRETTY);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), {
    bodyParser: false,
    logger: ['error', 'warn', 'log'],
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
  await app.get(ModelStore).registerConfigured();
  await app.listen(config.API_PORT, config.API_HOST);
  logger.info({ port: config.API_PORT }, 'inference API listening');
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
