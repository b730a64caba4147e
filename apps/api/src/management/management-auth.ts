import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { refuse, sameSecret } from '../core/auth';

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

/**
 * Requires the management token on every path of the management port (the API, Bull Board, the
 * OpenAPI pages), before any body is read. A 401 lets a browser log in with Basic auth (any user
 * name, the token as password). Passes everything when `token` is undefined (MANAGEMENT_AUTH off).
 */
export function requireManagementToken(token: string | undefined): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if (!token || tokenMatches(req, token)) return next();
    refuse(
      req,
      res,
      req.originalUrl,
      'the management API needs Authorization: Bearer <management token>',
      {
        'www-authenticate': 'Basic realm="modelfleet management"',
      },
    );
  };
}
