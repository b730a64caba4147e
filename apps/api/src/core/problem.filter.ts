import { ArgumentsHost, Catch, HttpException, type ExceptionFilter } from '@nestjs/common';
import { isRedisUnavailable } from '@app/common';
import { UnknownModelError } from '@app/registry';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PinoLogger } from 'nestjs-pino';
import { Problem, sendProblem } from './problem';
import { closeUnread } from './request-bodies';

const TITLES: Record<number, string> = {
  400: 'Invalid request',
  401: 'Unauthorized',
  404: 'Not found',
  405: 'Method not allowed',
  413: 'Payload too large',
  415: 'Unsupported media type',
  500: 'Internal error',
};

/**
 * Turns every error into an RFC 9457 `application/problem+json` answer: those of routes, and
 * those of Fastify itself and of the body reading (a body too large, malformed, undecodable).
 */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  constructor(private readonly logger: PinoLogger) {}

  catch(error: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const problem = toProblem(error);
    // Only unexpected failures are errors: a 503 or 504 is an answer, not a fault.
    if (problem.getStatus() === 500) {
      this.logger.error({ err: error }, 'request failed');
    }
    // Refused before its body was read whole (too large, say): the rest is read and dropped for
    // a while, then the connection is cut, rather than closed at once on unread data (Fastify
    // asks for that after a body reading failed), which could reset it before the answer is read.
    if (!request.raw.complete) {
      reply.removeHeader('connection');
      closeUnread(request.raw, reply.raw);
    }
    sendProblem(reply, problem, request.url);
  }
}

/** When a caller refused because Redis is away should try again, in seconds. */
const REDIS_RETRY_AFTER_S = 2;

/** Maps known errors (Fastify, Nest, registry) to problems; anything else is a 500. */
export function toProblem(error: unknown): Problem {
  if (error instanceof Problem) return error;
  if (isRedisUnavailable(error)) {
    const detail = `Redis is unreachable: ${(error as Error).message}`;
    return new Problem(503, 'Unavailable', detail).retryAfter(REDIS_RETRY_AFTER_S);
  }
  if (error instanceof UnknownModelError) return new Problem(404, 'Model not found', error.message);
  // Fastify's own refusals (a malformed request it would not route, a bad Content-Type, a
  // Content-Length the body does not match) carry `statusCode`.
  const { code, statusCode } = error as Record<string, unknown>;
  if (typeof code === 'string' && code.startsWith('FST_')) {
    if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
      return new Problem(
        statusCode,
        TITLES[statusCode] ?? 'Invalid request',
        (error as Error).message,
      );
    }
  }
  if (error instanceof HttpException) {
    const status = error.getStatus();
    return new Problem(status, TITLES[status] ?? error.message, error.message);
  }
  return new Problem(500, 'Internal error', 'the server failed to handle this request');
}
