import { z } from 'zod';
import { describeIssues } from '@app/handler/package';
import { badRequest, Problem } from '../core/problem';
import { MAX_DEADLINE_MS } from './deadline';

/** Bounds a request's texts must respect. */
export interface TextLimits {
  maxTexts: number;
}

/**
 * The texts of a TorchServe-style body: `{"data": [...]}`, `{"data": "one"}`, a bare JSON
 * string, or a `text/plain` body. `single` says the caller sent one text, not a list.
 */
export function textsFromBody(
  body: unknown,
  limits: TextLimits,
): { texts: string[]; single: boolean } {
  if (typeof body === 'string') return { texts: checkTexts([body], limits), single: true };
  if (body && typeof body === 'object' && !Array.isArray(body) && 'data' in body) {
    const data = body.data;
    if (typeof data === 'string') return { texts: checkTexts([data], limits), single: true };
    return { texts: checkTexts(data, limits), single: false };
  }
  throw badRequest('the body must be {"data": ["text", ...]}, a JSON string, or text/plain', {
    errors: [{ pointer: '#/data', detail: 'is missing' }],
  });
}

/** Checks a list of texts: a non-empty array of non-empty strings within the size limit. */
export function checkTexts(data: unknown, limits: TextLimits, pointer = '#/data'): string[] {
  if (!Array.isArray(data)) {
    throw badRequest('"data" must be an array of strings', {
      errors: [{ pointer, detail: 'must be an array' }],
    });
  }
  if (data.length === 0) {
    throw badRequest('"data" is empty', {
      errors: [{ pointer, detail: 'must hold at least one text' }],
    });
  }
  if (data.length > limits.maxTexts) {
    throw new Problem(
      413,
      'Too many texts',
      `"data" holds ${data.length} texts; the limit is ${limits.maxTexts}`,
    );
  }
  const errors = data.flatMap((item, i) =>
    typeof item !== 'string'
      ? [
          {
            pointer: `${pointer}/${i}`,
            detail: `must be a string, got ${item === null ? 'null' : typeof item}`,
          },
        ]
      : item.trim() === ''
        ? [{ pointer: `${pointer}/${i}`, detail: 'must not be empty' }]
        : [],
  );
  if (errors.length)
    throw badRequest(`${errors.length} item(s) of "data" are not usable texts`, { errors });
  return data as string[];
}

const webhookEvent = z.enum(['start', 'completed']);

/** Body of `POST /v1/predictions`. */
export const createPredictionSchema = z
  .object({
    model: z.string().min(1),
    version: z.string().min(1).optional(),
    // Checked by `checkTexts` (a pointer per bad item, 413 past the limit); documented as such.
    input: z.object({
      data: z.unknown().meta({
        description: 'the texts to classify',
        type: 'array',
        minItems: 1,
        items: { type: 'string', minLength: 1 },
      }),
    }),
    probabilities: z.boolean().optional(),
    webhook: z.string().url().optional(),
    webhook_events_filter: z.array(webhookEvent).min(1).default(['completed']),
    deadline_ms: z
      .number()
      .int()
      .min(1)
      .max(MAX_DEADLINE_MS)
      .optional()
      .describe(
        'milliseconds from now by which a worker must have started the job, else it fails as `deadline_exceeded` (with a Request-Timeout header too, the earlier wins)',
      ),
  })
  .strict();

export type CreatePredictionBody = z.infer<typeof createPredictionSchema>;

/** Parses input with a zod schema; a mismatch is a 400 problem with a pointer per bad field. */
export function parseWith<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw badRequest(describeIssues(parsed.error), {
      errors: parsed.error.issues.map((i) => ({
        pointer: `#/${i.path.join('/')}`,
        detail: i.message,
      })),
    });
  }
  return parsed.data;
}

export const parseCreateBody = (body: unknown): CreatePredictionBody =>
  parseWith(createPredictionSchema, body);

/** Reads `Prefer: wait=N` (seconds), capped at `max`; undefined when absent. */
export function preferWait(header: string | undefined, max: number): number | undefined {
  const match = header?.match(/(?:^|[,;\s])wait=(\d+)/);
  return match ? Math.min(Number(match[1]), max) : undefined;
}
