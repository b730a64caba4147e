import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Store, storage } from 'nestjs-pino/storage';
import type { Logger } from 'pino';
import { ApiLogger } from './api-logger';
import { authenticate, type PortGuard } from './auth';
import type { SharedServices } from './core.module';
import { readRequestBodies } from './request-bodies';

/**
 * Creates one of the API's HTTP apps (the inference port, the management port), each on
 * Fastify and alike: the request id (`X-Request-Id`, echoed, or a new UUID), one access log line
 * per request with the request's logger bound while it is handled, request metrics labelled
 * with `name`, authentication by `guard` before any body is read, and one body reading under
 * MAX_BODY_BYTES (see `readRequestBodies`). No guard: the port is open.
 */
export async function createHttpApp(
  name: string,
  module: unknown,
  shared: SharedServices,
  guard: PortGuard | undefined,
): Promise<NestFastifyApplication> {
  const { config, metrics, logger } = shared;
  const adapter = new FastifyAdapter({
    genReqId: (req: IncomingMessage) =>
      (req.headers['x-request-id'] as string | undefined) ?? randomUUID(),
    // No Nest middleware here: the hooks below do their work, for less per request.
    skipMiddie: true,
    // `/ping/` and `/PING` are `/ping`; no limit of its own on a parameter.
    routerOptions: { ignoreTrailingSlash: true, caseSensitive: false, maxParamLength: 16 * 1024 },
    // While the app closes, requests on open connections are still answered (each connection
    // then closes: see main.ts), rather than with Fastify's own 503 body.
    return503OnClosing: false,
  });
  const app = await NestFactory.create<NestFastifyApplication>(module as never, adapter, {
    bodyParser: false,
    bufferLogs: true,
  });
  app.useLogger(app.get(ApiLogger));
  const fastify = app.getHttpAdapter().getInstance();
  const handled = new WeakSet<object>();
  fastify.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    // One short line per request: headers would cost time and could carry secrets.
    request.log = logger.child({
      req: { id: request.id, method: request.method, url: request.url },
    });
    done();
  });
  fastify.addHook('onRequest', authenticate(guard));
  // Lines logged while the request is handled carry its id (what nestjs-pino's middleware does).
  fastify.addHook('preHandler', (request, _reply, done) => {
    handled.add(request);
    storage.run(new Store(request.log as Logger), done);
  });
  fastify.addHook('onResponse', (request, reply, done) => {
    const status = reply.statusCode;
    metrics.httpRequests.inc({
      app: name,
      // A request refused before its route's handler (credentials, body) is unmatched.
      route: (handled.has(request) && request.routeOptions.url) || 'unmatched',
      method: request.method,
      status: String(status),
    });
    if (config.ACCESS_LOG) accessLine(request.log as Logger, status, reply.elapsedTime);
    done();
  });
  readRequestBodies(fastify, config.MAX_BODY_BYTES);
  return app;
}

/** The access log line: status and time, and the request fields of the request's logger. */
function accessLine(log: Logger, statusCode: number, elapsedMs: number): void {
  const responseTime = Math.round(elapsedMs);
  if (statusCode >= 500) {
    const err = new Error(`failed with status code ${statusCode}`);
    log.info({ res: { statusCode }, err, responseTime }, 'request errored');
  } else log.info({ res: { statusCode }, responseTime }, 'request completed');
}
