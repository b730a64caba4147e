import type { IncomingMessage } from 'node:http';
import express from 'express';
import type { FastifyInstance } from 'fastify';

/** TorchServe's route, whose body is read raw whatever its type (paths match in any case). */
const TORCHSERVE_PATH = /^\/predictions(\/|\?|$)/i;
const MULTIPART = /^multipart\//i;
/** A Content-Type Fastify can read (`type/subtype`, then parameters): see `readBodiesAsExpress`. */
const MEDIA_TYPE = /^\s*[\w!#$%&'*+.^`|~-]+\/[\w!#$%&'*+.^`|~-]+\s*(;|$)/;

type BodyParser = (req: IncomingMessage, res: never, next: (error?: unknown) => void) => void;

/**
 * Makes the app read bodies as the Express apps of this API do, with the same parsers (so the
 * same limits, charsets, content encodings and errors, which the problem filter maps):
 * TorchServe's route reads the raw bytes whatever the type (`curl -T`, `-d`, no type at all),
 * except a multipart form, which the route reads itself; elsewhere JSON (any JSON value) and
 * plain text are parsed, and any other body is left unread for the route (dataset uploads to
 * `/v1/batches` are read as a stream).
 */
export function readBodiesAsExpress(app: FastifyInstance, maxBytes: number): void {
  const raw = express.raw({ limit: maxBytes, type: () => true }) as BodyParser;
  const json = express.json({
    limit: maxBytes,
    strict: false,
    type: ['application/json', '+json'],
  }) as BodyParser;
  const text = express.text({ limit: maxBytes, type: 'text/plain' }) as BodyParser;
  // Fastify refuses a Content-Type it cannot parse (415) before any parser runs; Express's
  // parsers read such a body as one of no type (raw on TorchServe's route, unread elsewhere).
  app.addHook('onRequest', (request, _reply, done) => {
    const type = request.headers['content-type'];
    if (type !== undefined && !MEDIA_TYPE.test(type)) delete request.raw.headers['content-type'];
    done();
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (request, _payload, done) => {
    const req = request.raw as IncomingMessage & { body?: unknown };
    const finish = (error?: unknown) => done(error ? (error as Error) : null, req.body);
    if (TORCHSERVE_PATH.test(request.url)) {
      if (MULTIPART.test(request.headers['content-type'] ?? '')) return done(null, undefined);
      return raw(req, undefined as never, finish);
    }
    json(req, undefined as never, (error) => {
      if (error || req.body !== undefined) return finish(error);
      text(req, undefined as never, finish);
    });
  });
}
