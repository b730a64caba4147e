import { DEADLINE_EXCEEDED } from '@app/common';
import { Problem, badRequest } from '../core/problem';

/** Longest deadline a caller may give: a week, in ms. */
export const MAX_DEADLINE_MS = 7 * 86_400_000;

/** The header that gives a deadline in milliseconds from now. */
export const REQUEST_TIMEOUT_HEADER = 'request-timeout';

/** How a deadline in ms from now is described in documents and errors. */
export const DEADLINE_RULE = `a whole number of milliseconds from 1 to ${MAX_DEADLINE_MS}`;

/**
 * The absolute deadline (epoch ms) a caller gave, from the `Request-Timeout` header and a
 * `deadline_ms` field (each milliseconds from now; with both, the earlier wins); undefined with
 * neither. A bad value is a 400 naming it.
 */
export function deadlineOf(
  header: string | undefined,
  field: unknown,
  fieldPointer = '#/deadline_ms',
  now = Date.now(),
): number | undefined {
  const fromHeader =
    header === undefined ? undefined : checked(header, 'the Request-Timeout header');
  const fromField =
    field === undefined || field === null ? undefined : checked(field, fieldPointer);
  const ms = Math.min(fromHeader ?? Infinity, fromField ?? Infinity);
  return Number.isFinite(ms) ? now + ms : undefined;
}

function checked(value: unknown, where: string): number {
  const ms =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^\d+$/.test(value.trim())
        ? Number(value)
        : NaN;
  if (!Number.isInteger(ms) || ms < 1 || ms > MAX_DEADLINE_MS) {
    const detail = `${where} must be ${DEADLINE_RULE}, got ${JSON.stringify(value)}`;
    // A header is no field of the body: only a field gets a pointer.
    throw where.startsWith('#')
      ? badRequest(detail, { errors: [{ pointer: where, detail: `must be ${DEADLINE_RULE}` }] })
      : badRequest(detail);
  }
  return ms;
}

/** How long a sync caller waits: SYNC_TIMEOUT_MS, or less when its deadline comes first. */
export function syncWaitMs(timeoutMs: number, deadline: number | undefined): number {
  return deadline === undefined
    ? timeoutMs
    : Math.min(timeoutMs, Math.max(0, deadline - Date.now()));
}

/** The deadline of work shared by requests: the latest of theirs, none when one has none. */
export function latestDeadline(deadlines: readonly (number | undefined)[]): number | undefined {
  return deadlines.some((d) => d === undefined) ? undefined : Math.max(...(deadlines as number[]));
}

/** The 504 of a sync call whose deadline passed before its answer came. */
export function deadlineExceeded(id: string): Problem {
  return new Problem(504, 'Deadline exceeded', 'no answer by the deadline the caller gave', {
    reason: DEADLINE_EXCEEDED,
    id,
    url: `/v1/predictions/${id}`,
  });
}
