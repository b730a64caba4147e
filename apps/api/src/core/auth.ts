import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { Problem, sendProblem, type ProblemReply } from './problem';

/** Key of the digests below: per process, so a digest says nothing outside it. */
const DIGEST_KEY = randomBytes(32);

/**
 * Compares two secrets in constant time whatever their lengths: both are reduced to HMAC-SHA256
 * digests of one length first, so neither the comparison nor an early exit tells the length.
 */
export function sameSecret(given: string, expected: string): boolean {
  const digest = (value: string) => createHmac('sha256', DIGEST_KEY).update(value).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * Paths of the inference port that stay open with an API key: health (the Open Inference
 * Protocol's `/v2/health/*` too, for probes), and the API's docs.
 */
const OPEN_PATHS = /^\/(ping|healthz|readyz|docs|v2\/health)(\/|-json|-yaml|\?|$)/;

/**
 * Requires the API key on the inference port (`Authorization: Bearer <key>` or `X-API-Key`),
 * before any body is read: a request hook, run before the body parsers, so an unauthenticated
 * upload costs nothing. Passes everything when no key is set.
 */
export function requireApiKey(key: string | undefined): onRequestHookHandler {
  return (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    if (!key || OPEN_PATHS.test(request.url)) return done();
    const { headers } = request;
    const given =
      (headers['x-api-key'] as string | undefined) ??
      headers.authorization?.replace(/^Bearer\s+/i, '');
    if (given && sameSecret(given, key)) return done();
    refuse(
      request.raw,
      reply,
      request.url,
      'a valid API key is required (Authorization: Bearer <key>)',
    );
  };
}

/**
 * Answers 401 without reading the body, and closes the connection if a body is on its way.
 * `reply` is an Express response or a Fastify reply; `instance` the request's URL.
 */
export function refuse(
  req: IncomingMessage,
  reply: ProblemReply & { raw?: ServerResponse },
  instance: string,
  detail: string,
  headers: Record<string, string> = {},
): void {
  closeUnread(req, reply.raw ?? (reply as unknown as ServerResponse));
  for (const [name, value] of Object.entries(headers)) reply.header(name, value);
  sendProblem(reply, new Problem(401, 'Unauthorized', detail), instance);
}

/** How long a refused request's body is read and thrown away before its connection is cut. */
const LINGER_MS = 2000;

/**
 * For an answer given before the request's body was read: once the answer is sent, the rest of the
 * body is read and dropped (kept nowhere); if it is still coming after a short while,
 * the connection is cut. Not at once: a connection closed on unread data is reset, and the reset
 * can destroy the answer before the client reads it (what nginx's lingering close avoids).
 */
export function closeUnread(req: IncomingMessage, res: ServerResponse): void {
  if (req.complete) return;
  res.once('finish', () => {
    // Flowing with no reader: what arrives is dropped (a parser that gave up may have paused it).
    req.resume();
    const cut = setTimeout(() => {
      if (!req.complete) req.socket.destroy();
    }, LINGER_MS);
    req.socket.once('close', () => clearTimeout(cut));
  });
}
