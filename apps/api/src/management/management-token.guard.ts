import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
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

/**
 * The same check as an Express middleware, for what is mounted beside Nest's router on the
 * management port (Bull Board, the OpenAPI pages): a 401 problem that lets a browser log in with
 * Basic auth (any user name, the token as password). Passes everything when `token` is undefined.
 */
export function requireManagementToken(token: string | undefined): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if (!token || tokenMatches(req, token)) return next();
    res
      .status(401)
      .set('www-authenticate', 'Basic realm="modelfleet management"')
      .type('application/problem+json')
      .send(
        JSON.stringify({
          type: 'about:blank',
          title: 'Unauthorized',
          status: 401,
          detail: 'the management token is required',
        }),
      );
  };
}
