import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { Problem, sendProblem } from './problem';
import { closeUnread } from './request-bodies';

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

/** Who may call one port, judged on the request line and headers alone. */
export interface PortGuard {
  /** Whether the request may pass. */
  admits(request: FastifyRequest): boolean;
  /** What a refused caller must send, for the 401's detail. */
  detail: string;
  /** Headers of the 401 (a Basic challenge lets a browser log in). */
  challenge?: Record<string, string>;
}

/**
 * The request hook that authenticates every request of a port with its guard, before any body
 * is read (hooks run before the body parsers), so an unauthenticated upload costs nothing: a 401
 * at once, and the connection closed if a body is on its way. No guard: everything passes.
 */
export function authenticate(guard: PortGuard | undefined): onRequestHookHandler {
  return (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    if (!guard || guard.admits(request)) return done();
    closeUnread(request.raw, reply.raw);
    for (const [name, value] of Object.entries(guard.challenge ?? {})) reply.header(name, value);
    sendProblem(reply, new Problem(401, 'Unauthorized', guard.detail), request.url);
  };
}

/**
 * Paths of the inference port that stay open with an API key: health (the Open Inference
 * Protocol's `/v2/health/*` too, for probes), and the API's docs.
 */
const OPEN_PATHS = /^\/(ping|healthz|readyz|docs|v2\/health)(\/|-json|-yaml|\?|$)/;

/**
 * The inference port's guard: the API key (`Authorization: Bearer <key>` or `X-API-Key`) on
 * every path but health and docs. None when no key is set.
 */
export function apiKeyGuard(key: string | undefined): PortGuard | undefined {
  if (!key) return undefined;
  return {
    admits: ({ url, headers }) => {
      if (OPEN_PATHS.test(url)) return true;
      const given =
        (headers['x-api-key'] as string | undefined) ??
        headers.authorization?.replace(/^Bearer\s+/i, '');
      return given !== undefined && sameSecret(given, key);
    },
    detail: 'a valid API key is required (Authorization: Bearer <key>)',
  };
}
