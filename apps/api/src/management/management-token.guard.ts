import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { sameSecret } from '../infra/api-key.guard';
import { Problem } from '../problem/problem';

/** Injection token of the management bearer token (undefined when auth is off). */
export const MANAGEMENT_TOKEN = Symbol('MANAGEMENT_TOKEN');

/** Requires `Authorization: Bearer <management token>` on every management route. */
@Injectable()
export class ManagementTokenGuard implements CanActivate {
  constructor(@Inject(MANAGEMENT_TOKEN) private readonly token: string | undefined) {}

  canActivate(context: ExecutionContext): boolean {
    if (!this.token) return true;
    const header = context.switchToHttp().getRequest<Request>().header('authorization') ?? '';
    const given = header.replace(/^Bearer\s+/i, '');
    if (given && sameSecret(given, this.token)) return true;
    throw new Problem(
      401,
      'Unauthorized',
      'the management API needs Authorization: Bearer <management token>',
    );
  }
}
