import { HttpException } from '@nestjs/common';
import type { FastifyReply } from 'fastify';

/** An RFC 9457 problem: what went wrong, for which status, with optional extension members. */
export class Problem extends HttpException {
  /** Seconds after which a retry may succeed (a `Retry-After` header), for a 429 or 503. */
  retryAfterS?: number;

  constructor(
    status: number,
    readonly title: string,
    readonly detail?: string,
    readonly extensions: Record<string, unknown> = {},
  ) {
    super({ title, detail, ...extensions }, status);
  }

  /** The same problem, answered with `Retry-After: seconds`. */
  retryAfter(seconds: number): this {
    this.retryAfterS = Math.max(1, Math.ceil(seconds));
    return this;
  }

  /** Title and detail in one line, followed by each field error (`pointer: detail`). */
  summary(): string {
    const errors = (this.extensions.errors ?? []) as { pointer?: string; detail?: string }[];
    const fields = errors.map((e) => `${e.pointer}: ${e.detail}`);
    return [this.detail ? `${this.title}: ${this.detail}` : this.title, ...fields].join('; ');
  }

  /** The problem+json body. */
  body(instance?: string): Record<string, unknown> {
    return {
      ...this.extensions,
      type: `https://modelfleet.dev/problems/${slug(this.title)}`,
      title: this.title,
      status: this.getStatus(),
      ...(this.detail ? { detail: this.detail } : {}),
      ...(instance ? { instance } : {}),
    };
  }
}

function slug(title: string): string {
  return title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

export const badRequest = (detail: string, extensions?: Record<string, unknown>) =>
  new Problem(400, 'Invalid request', detail, extensions);
export const notFound = (detail: string) => new Problem(404, 'Not found', detail);

/**
 * Paths of the Open Inference Protocol (KServe v2), whose clients read an error as
 * `{"error": "<message>"}` with the same status, whatever refused the request: the API key check,
 * a body parser or the route itself.
 */
const OPEN_INFERENCE_PATH = /^\/v2(\/|\?|$)/;

/** Writes a problem as the answer: problem+json, or the Open Inference Protocol's error object. */
export function sendProblem(reply: FastifyReply, problem: Problem, instance?: string): void {
  if (problem.retryAfterS) reply.header('retry-after', String(problem.retryAfterS));
  reply.status(problem.getStatus());
  if (instance && OPEN_INFERENCE_PATH.test(instance)) {
    reply.header('content-type', 'application/json; charset=utf-8');
    reply.send(JSON.stringify({ error: problem.summary() }));
    return;
  }
  reply.header('content-type', 'application/problem+json; charset=utf-8');
  reply.send(JSON.stringify(problem.body(instance)));
}
