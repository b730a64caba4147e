import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { Problem, sendProblem } from './problem';

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
 * before any body is read: mounted ahead of the body parsers, so an unauthenticated upload costs
 * nothing. Passes everything when no key is set.
 */
export function requireApiKey(key: string | undefined): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if (!key || OPEN_PATHS.test(req.path)) return next();
    const given =
      req.header('x-api-key') ?? req.header('authorization')?.replace(/^Bearer\s+/i, '');
    if (given && sameSecret(given, key)) return next();
    refuse(res, req, 'a valid API key is required (Authorization: Bearer <key>)');
  };
}

/** Answers 401 without reading the body, and closes the connection if a body is on its way. */
export function refuse(res: Response, req: Request, detail: string, headers = {}): void {
  closeUnread(req, res);
  res.set(headers);
  sendProblem(res, new Problem(401, 'Unauthorized', detail), req.originalUrl);
}

/** How long a refused request's body is read and thrown away before its connection is cut. */
const LINGER_MS = 2000;

/**
 * For an answer given before the request's body was read: once the answer is sent, the rest of the
 * body is read and dropped (kept nowhere); if it is still coming after a short while,
 * the connection is cut. Not at once: a connection closed on unread data is reset, and the reset
 * can destroy the answer before the client reads it (what nginx's lingering close avoids).
 */
export function closeUnread(req: Request, res: Response): void {
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
