import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Store, storage } from 'nestjs-pino/storage';
import type { FastifyRequest } from 'fastify';
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
  const startedAt = new WeakMap<object, number>();
  const started = (request: FastifyRequest) => startedAt.get(request) ?? performance.now();
  fastify.addHook('onRequest', (request, reply, done) => {
    startedAt.set(request, performance.now());
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
  // One line and one count per request: on its answer, or when its caller goes away first.
  const answered = new WeakSet<object>();
  const account = (request: FastifyRequest, status: number, elapsedMs: number) => {
    if (answered.has(request)) return;
    answered.add(request);
    metrics.httpRequests.inc({
      transport: 'http',
      app: name,
      // A request refused before its route's handler (credentials, body) is unmatched.
      route: (handled.has(request) && request.routeOptions.url) || 'unmatched',
      method: request.method,
      status: String(status),
    });
    if (config.ACCESS_LOG) accessLine(request.log as Logger, status, elapsedMs);
  };
  fastify.addHook('onResponse', (request, reply, done) => {
    account(request, reply.statusCode, reply.elapsedTime);
    done();
  });
  // A caller that closes its connection before the answer: no response ever finishes, so the
  // line is written now, with nginx's 499 (client closed request).
  fastify.addHook('onRequestAbort', (request, done) => {
    account(request, CLIENT_CLOSED_REQUEST, performance.now() - started(request));
    done();
  });
  readRequestBodies(fastify, config.MAX_BODY_BYTES);
  return app;
}

/** The status an access line and the request metrics give a request its caller aborted. */
const CLIENT_CLOSED_REQUEST = 499;

/** The access log line: status and time, and the request fields of the request's logger. */
function accessLine(log: Logger, statusCode: number, elapsedMs: number): void {
  const responseTime = Math.round(elapsedMs);
  if (statusCode === CLIENT_CLOSED_REQUEST) {
    log.info({ res: { statusCode }, responseTime }, 'request aborted by the client');
  } else if (statusCode >= 500) {
    // No stack: a 503 (of /ping while workers warm up, say) is an answer, and a stack made here
    // would only show this function. A failure of the server logs its own error (ProblemFilter).
    log.info({ res: { statusCode }, responseTime }, 'request errored');
  } else log.info({ res: { statusCode }, responseTime }, 'request completed');
}
