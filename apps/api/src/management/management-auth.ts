import type { IncomingHttpHeaders } from 'node:http';
import { sameSecret, type PortGuard } from '../core/auth';

/** True when the request carries the token: `Bearer <token>`, or Basic auth with it as password. */
export function tokenMatches(headers: IncomingHttpHeaders, token: string): boolean {
  const [scheme, value = ''] = (headers.authorization ?? '').split(/\s+/, 2);
  let given = '';
  if (/^bearer$/i.test(scheme)) given = value;
  if (/^basic$/i.test(scheme))
    given = Buffer.from(value, 'base64').toString().split(':').slice(1).join(':');
  return given !== '' && sameSecret(given, token);
}

/**
 * The management port's guard: the management token on every path (the API, Bull Board, the
 * OpenAPI pages). Its 401 says where the token is (`whereabouts`) and lets a browser log in with
 * Basic auth (any user name, the token as password). None when `token` is undefined
 * (MANAGEMENT_AUTH off).
 */
export function managementTokenGuard(
  token: string | undefined,
  whereabouts = 'the API setting MANAGEMENT_TOKEN',
): PortGuard | undefined {
  if (!token) return undefined;
  return {
    admits: ({ headers }) => tokenMatches(headers, token),
    detail:
      'the management API needs its token: Authorization: Bearer <token>, or in a browser any ' +
      `user name and the token as password; the token is in ${whereabouts}`,
    challenge: { 'www-authenticate': 'Basic realm="modelfleet management"' },
  };
}
