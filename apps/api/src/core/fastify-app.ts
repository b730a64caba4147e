import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance, onRequestHookHandler } from 'fastify';
import { Store, storage } from 'nestjs-pino/storage';
import type { Logger } from 'pino';
import type { SharedServices } from './core.module';
import { ApiLogger } from './http-app';
import { readBodiesAsExpress } from './request-bodies';

/**
 * Creates one HTTP app on Fastify, answering as the Express apps do: the request id
 * (`X-Request-Id`, echoed), one access log line per request with the request's logger bound
 * while it is handled, request metrics, the request hook `authenticate` before any body is read,
 * and the body parsers of the settings.
 */
export async function createFastifyApp(
  name: string,
  module: unknown,
  shared: SharedServices,
  authenticate: onRequestHookHandler,
): Promise<NestFastifyApplication> {
  const { config, metrics, logger } = shared;
  const adapter = new FastifyAdapter({
    genReqId: (req: IncomingMessage) =>
      (req.headers['x-request-id'] as string | undefined) ?? randomUUID(),
    // No Nest middleware here: the hooks below do their work, for less per request.
    skipMiddie: true,
    // As Express routes: `/ping/` and `/PING` are `/ping`; no limit of its own on a parameter.
    routerOptions: { ignoreTrailingSlash: true, caseSensitive: false, maxParamLength: 16 * 1024 },
    // While the app closes, requests on open connections are still answered (each connection
    // then closes: see main.ts), as on Express, rather than with Fastify's own 503 body.
    return503OnClosing: false,
  });
  const app = await NestFactory.create<NestFastifyApplication>(module as never, adapter, {
    bodyParser: false,
    bufferLogs: true,
  });
  app.useLogger(app.get(ApiLogger));
  const fastify = app.getHttpAdapter().getInstance() as unknown as FastifyInstance;
  const handled = new WeakSet<object>();
  fastify.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    // One short line per request: headers would cost time and could carry secrets.
    request.log = logger.child({
      req: { id: request.id, method: request.method, url: request.url },
    });
    done();
  });
  fastify.addHook('onRequest', authenticate);
  // Lines logged while the request is handled carry its id (what nestjs-pino's middleware does).
  fastify.addHook('preHandler', (request, _reply, done) => {
    handled.add(request);
    storage.run(new Store(request.log as Logger), done);
  });
  fastify.addHook('onResponse', (request, reply, done) => {
    const status = reply.statusCode;
    metrics.httpRequests.inc({
      app: name,
      // As on Express: a request refused before its route's handler (API key, body) is unmatched.
      route: (handled.has(request) && request.routeOptions.url) || 'unmatched',
      method: request.method,
      status: String(status),
    });
    if (config.ACCESS_LOG) accessLine(request.log as Logger, status, reply.elapsedTime);
    done();
  });
  readBodiesAsExpress(fastify, config.MAX_BODY_BYTES);
  return app;
}

/** The access log line, as pino-http writes it on the Express apps. */
function accessLine(log: Logger, statusCode: number, elapsedMs: number): void {
  const responseTime = Math.round(elapsedMs);
  if (statusCode >= 500) {
    const err = new Error(`failed with status code ${statusCode}`);
    log.info({ res: { statusCode }, err, responseTime }, 'request errored');
  } else log.info({ res: { statusCode }, responseTime }, 'request completed');
}
