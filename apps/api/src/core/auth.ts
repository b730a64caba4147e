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
  if (!req.complete) res.setHeader('connection', 'close');
  res.set(headers);
  sendProblem(res, new Problem(401, 'Unauthorized', detail), req.originalUrl);
}
