import { timingSafeEqual } from 'node:crypto';
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

/** Constant-time comparison of two secrets. */
export function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
