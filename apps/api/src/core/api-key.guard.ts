import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { API_CONFIG, type ApiConfig } from '../config';
import { Problem } from './problem';

/** Protects the inference API when API_KEY is set: `Authorization: Bearer <key>` or `X-API-Key`. */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(@Inject(API_CONFIG) private readonly config: ApiConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const expected = this.config.API_KEY;
    if (!expected) return true;
    const request = context.switchToHttp().getRequest<Request>();
    const given =
      request.header('x-api-key') ?? request.header('authorization')?.replace(/^Bearer\s+/i, '');
    if (given && sameSecret(given, expected)) return true;
    throw new Problem(
      401,
      'Unauthorized',
      'a valid API key is required (Authorization: Bearer <key>)',
    );
  }
}

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
