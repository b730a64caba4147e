import { ArgumentsHost, Catch, HttpException, type ExceptionFilter } from '@nestjs/common';
import { isRedisUnavailable } from '@app/common';
import { UnknownModelError } from '@app/registry';
import { PinoLogger } from 'nestjs-pino';
import { Problem, sendProblem, type ProblemReply } from './problem';

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
 * Turns every error into an RFC 9457 `application/problem+json` answer, on an Express app (the
 * management port) or a Fastify one (the inference port).
 */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  constructor(private readonly logger: PinoLogger) {}

  catch(error: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<{ originalUrl?: string; url: string }>();
    const response = http.getResponse<ProblemReply>();
    const problem = toProblem(error);
    // Only unexpected failures are errors: a 503 or 504 is an answer, not a fault.
    if (problem.getStatus() === 500) {
      this.logger.error({ err: error }, 'request failed');
    }
    sendProblem(response, problem, request.originalUrl ?? request.url);
  }
}

/** When a caller refused because Redis is away should try again, in seconds. */
const REDIS_RETRY_AFTER_S = 2;

/** Maps known errors (body-parser, Fastify, Nest, registry) to problems; anything else is a 500. */
export function toProblem(error: unknown): Problem {
  if (error instanceof Problem) return error;
  if (isRedisUnavailable(error)) {
    const detail = `Redis is unreachable: ${(error as Error).message}`;
    return new Problem(503, 'Unavailable', detail).retryAfter(REDIS_RETRY_AFTER_S);
  }
  if (error instanceof UnknownModelError) return new Problem(404, 'Model not found', error.message);
  const parserType = (error as { type?: string }).type;
  if (parserType === 'entity.parse.failed') {
    return new Problem(400, 'Malformed JSON', (error as Error).message);
  }
  if (parserType === 'entity.too.large') {
    const limit = (error as { limit?: number }).limit;
    return new Problem(413, 'Payload too large', `the body is over the limit of ${limit} bytes`);
  }
  // Any other refusal of a body parser (unsupported charset or encoding: 415; a body that cannot
  // be decoded or read: 400) carries its own client-error status.
  // Fastify's own refusals (a malformed request it would not route) carry `statusCode`.
  const { status, expose } = error as { status?: unknown; expose?: unknown };
  const { code, statusCode } = error as { code?: unknown; statusCode?: unknown };
  if (typeof code === 'string' && code.startsWith('FST_')) {
    if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
      return new Problem(
        statusCode,
        TITLES[statusCode] ?? 'Invalid request',
        (error as Error).message,
      );
    }
  }
  const fromParser = parserType !== undefined || expose === true;
  if (fromParser && typeof status === 'number' && status >= 400 && status < 500) {
    return new Problem(status, TITLES[status] ?? 'Invalid request', (error as Error).message);
  }
  if (error instanceof HttpException) {
    const status = error.getStatus();
    return new Problem(status, TITLES[status] ?? error.message, error.message);
  }
  return new Problem(500, 'Internal error', 'the server failed to handle this request');
}
