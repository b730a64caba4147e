import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import express from 'express';
import { Logger as PinoNestLogger } from 'nestjs-pino';
import { pinoHttp } from 'pino-http';
import type { SharedServices } from './core.module';

/** Nest's own start-up chatter (modules loaded, routes mapped): debug lines, not info. */
const FRAMEWORK_CONTEXTS = new Set([
  'NestFactory',
  'InstanceLoader',
  'RoutesResolver',
  'RouterExplorer',
  'NestApplication',
]);

/** Nest's logger, written through the process's pino logger (JSON, request id in a request). */
@Injectable()
export class ApiLogger extends PinoNestLogger {
  override log(message: unknown, ...optionalParams: unknown[]): void {
    const context = optionalParams.at(-1);
    if (typeof context === 'string' && FRAMEWORK_CONTEXTS.has(context))
      super.debug(message, ...optionalParams);
    else super.log(message, ...optionalParams);
  }
}

/**
 * Creates one HTTP app on Express with access logs, request metrics and the body limits of the
 * settings (the management port: Bull Board runs on Express).
 */
export async function createExpressApp(
  name: string,
  module: unknown,
  shared: SharedServices,
  authenticate: express.RequestHandler,
): Promise<NestExpressApplication> {
  const { config, metrics, logger } = shared;
  const app = await NestFactory.create<NestExpressApplication>(module as never, {
    bodyParser: false,
    bufferLogs: true,
  });
  app.useLogger(app.get(ApiLogger));
  // No ETag (a hash of every answer, for caches that never see POST answers) and no banner.
  app.set('etag', false);
  app.disable('x-powered-by');
  app.use(
    pinoHttp({
      logger,
      autoLogging: config.ACCESS_LOG,
      // One short line per request: headers would cost time and could carry secrets. The
      // serializers read the request itself (pino's wrapper would first copy all of it).
      wrapSerializers: false,
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
  // Before any body parser: an unauthenticated request is refused before its body is read.
  app.use(authenticate);
  // TorchServe's route reads the raw body whatever its type (curl -T, -d, no type at all), as
  // TorchServe does; a multipart form is read by the route itself.
  app.use(
    '/predictions',
    express.raw({
      limit: config.MAX_BODY_BYTES,
      type: (req) => !/^multipart\//i.test(String(req.headers['content-type'] ?? '')),
    }),
  );
  app.use(
    express.json({
      limit: config.MAX_BODY_BYTES,
      strict: false,
      type: ['application/json', '+json'],
    }),
  );
  // Dataset uploads to /v1/batches are read as a stream by the batches feature.
  app.use(express.text({ limit: config.MAX_BODY_BYTES, type: 'text/plain' }));
  return app;
}
