import { randomUUID } from 'node:crypto';
import {
  Metadata,
  status,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type ServerErrorResponse,
} from '@grpc/grpc-js';
import type { Counter } from 'prom-client';
import type { Logger } from '@app/common';
import { sameSecret } from '../core/auth';
import { Problem } from '../core/problem';
import { toProblem } from '../core/problem.filter';

/** What a handler knows of its call besides the request. */
export interface CallContext {
  /** The caller's `x-request-id`, or a new one: it travels with the job to the worker. */
  requestId: string;
  /** The call's own gRPC deadline (epoch ms), when the caller set one. */
  deadline?: number;
}

/** A unary method as the services write it: a request in, a promise of the answer out. */
export type UnaryMethod<Req, Res> = (request: Req, context: CallContext) => Promise<Res>;

/** The gRPC code of each HTTP status the API's errors carry; anything else is INTERNAL. */
const CODES: Record<number, status> = {
  400: status.INVALID_ARGUMENT,
  401: status.UNAUTHENTICATED,
  404: status.NOT_FOUND,
  409: status.FAILED_PRECONDITION,
  413: status.INVALID_ARGUMENT,
  415: status.INVALID_ARGUMENT,
  422: status.INVALID_ARGUMENT,
  429: status.RESOURCE_EXHAUSTED,
  503: status.UNAVAILABLE,
  504: status.DEADLINE_EXCEEDED,
};

/** A call's deadline in epoch ms; undefined for none (grpc-js says Infinity). */
function deadlineOfCall(deadline: Date | number): number | undefined {
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) ? ms : undefined;
}

/** An error as a gRPC status: the code of its HTTP status, its message, `retry-after` if any. */
export function grpcErrorOf(error: unknown): Partial<ServerErrorResponse> & { code: status } {
  const problem = toProblem(error);
  const metadata = new Metadata();
  if (problem.retryAfterS) metadata.set('retry-after', String(problem.retryAfterS));
  return {
    code: CODES[problem.getStatus()] ?? status.INTERNAL,
    details: problem.summary(),
    metadata,
  };
}

/** What {@link GrpcCalls} needs: the API key, the access log, and the request counter. */
export interface GrpcCallsOptions {
  apiKey?: string;
  accessLog: boolean;
  logger: Logger;
  /** The API's `modelfleet_http_requests_total`: each call counts with `transport="grpc"`. */
  requests: Counter<'transport' | 'app' | 'route' | 'method' | 'status'>;
}

/**
 * Wraps service methods as gRPC handlers: the API key checked from the call's metadata
 * (`authorization: Bearer <key>` or `x-api-key`) unless the method is open, errors turned into
 * gRPC statuses, one access-log line per call, and the call counted in the request metrics as
 * HTTP requests are (a gRPC call is an HTTP/2 POST to its method's path).
 */
export class GrpcCalls {
  constructor(private readonly options: GrpcCallsOptions) {}

  /** A unary handler; `open` methods (health) need no API key. */
  unary<Req, Res>(
    path: string,
    method: UnaryMethod<Req, Res>,
    open = false,
  ): handleUnaryCall<Req, Res> {
    return (call, callback) => {
      this.run(path, call, open, (context) => method(call.request, context)).then(
        (answer) => callback(null, answer),
        (error: ServerErrorResponse) => callback(error),
      );
    };
  }

  /** A server-streaming handler that answers with one message, then ends the stream. */
  single<Req, Res>(
    path: string,
    method: UnaryMethod<Req, Res>,
  ): handleServerStreamingCall<Req, Res> {
    return (call) => {
      this.run(path, call, false, (context) => method(call.request, context)).then(
        (answer) => {
          call.write(answer);
          call.end();
        },
        // An 'error' event is how grpc-js ends a server stream with a status.
        (error: ServerErrorResponse) => call.emit('error', error),
      );
    };
  }

  private async run<Res>(
    path: string,
    call: { metadata: Metadata; getDeadline(): Date | number },
    open: boolean,
    body: (context: CallContext) => Promise<Res>,
  ): Promise<Res> {
    const start = performance.now();
    const { metadata } = call;
    const requestId = String(metadata.get('x-request-id')[0] ?? randomUUID());
    const deadline = deadlineOfCall(call.getDeadline());
    let code: status = status.OK;
    try {
      if (!open) this.authenticate(metadata);
      return await body({ requestId, deadline });
    } catch (error) {
      const failure = grpcErrorOf(error);
      code = failure.code;
      if (code === status.INTERNAL)
        this.options.logger.error({ err: error, path }, 'gRPC call failed');
      throw Object.assign(new Error(failure.details), failure);
    } finally {
      this.options.requests.inc({
        transport: 'grpc',
        app: 'inference',
        route: path,
        method: 'POST',
        status: status[code],
      });
      if (this.options.accessLog) {
        const ms = Math.round((performance.now() - start) * 10) / 10;
        this.options.logger.info(
          { grpc: { path, code: status[code], requestId, ms } },
          'gRPC call',
        );
      }
    }
  }

  private authenticate(metadata: Metadata): void {
    const key = this.options.apiKey;
    if (!key) return;
    const bearer = metadata
      .get('authorization')[0]
      ?.toString()
      .replace(/^Bearer\s+/i, '');
    const given = metadata.get('x-api-key')[0]?.toString() ?? bearer;
    if (!given || !sameSecret(given, key)) {
      throw new Problem(
        401,
        'Unauthorized',
        'a valid API key is required (metadata "authorization: Bearer <key>" or "x-api-key")',
      );
    }
  }
}
