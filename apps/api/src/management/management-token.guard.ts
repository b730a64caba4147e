import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { sameSecret } from '../core/api-key.guard';
import { Problem } from '../core/problem';

/** Injection token of the management bearer token (undefined when auth is off). */
export const MANAGEMENT_TOKEN = Symbol('MANAGEMENT_TOKEN');

/** True when the request carries the token: `Bearer <token>`, or Basic auth with it as password. */
export function tokenMatches(request: Request, token: string): boolean {
  const header = request.header('authorization') ?? '';
  const [scheme, value = ''] = header.split(/\s+/, 2);
  let given = '';
  if (/^bearer$/i.test(scheme)) given = value;
  if (/^basic$/i.test(scheme))
    given = Buffer.from(value, 'base64').toString().split(':').slice(1).join(':');
  return given !== '' && sameSecret(given, token);
}

/** Requires the management token on every management route. */
@Injectable()
export class ManagementTokenGuard implements CanActivate {
  constructor(@Inject(MANAGEMENT_TOKEN) private readonly token: string | undefined) {}

  canActivate(context: ExecutionContext): boolean {
    if (!this.token || tokenMatches(context.switchToHttp().getRequest<Request>(), this.token))
      return true;
    throw new Problem(
      401,
      'Unauthorized',
      'the management API needs Authorization: Bearer <management token>',
    );
  }
}
