import { z } from 'zod';
import { MAX_DEADLINE_MS } from '../predictions/deadline';
import { parseWith } from '../predictions/prediction.dto';
import { RESERVED_COLUMNS, isReservedColumn } from './batch-results';

const columnList = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).transform((v) =>
  typeof v === 'string'
    ? v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : v,
);

/**
 * Options of `POST /v1/batches`: the JSON body (with `path`), or the query string of an
 * uploaded CSV/JSONL body. Query values arrive as strings; lists may be comma-separated.
 */
export const createBatchSchema = z
  .object({
    model: z.string().min(1),
    version: z.string().min(1).optional(),
    /** A file inside the server's data folder (JSON body only; uploads carry the file). */
    path: z.string().min(1).optional(),
    format: z.enum(['csv', 'jsonl']).optional(),
    text: columnList,
    id: z.string().min(1).optional(),
    passthrough: columnList.optional(),
    label: z.string().min(1).optional(),
    label_base: z.coerce.number().int().optional(),
    columns: columnList.optional(),
    chunk_size: z.coerce.number().int().min(1).max(4096).optional(),
    probabilities: z
      .union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')])
      .optional(),
    webhook: z.string().url().optional(),
    deadline_ms: z.coerce.number().int().min(1).max(MAX_DEADLINE_MS).optional(),
  })
  .strict()
  .superRefine((options, context) => {
    const taken = (options.passthrough ?? []).filter(isReservedColumn);
    if (taken.length) {
      context.addIssue({
        code: 'custom',
        path: ['passthrough'],
        message: `cannot pass through ${taken.join(', ')}: results use these names (${RESERVED_COLUMNS})`,
      });
    }
  });

export type CreateBatchOptions = z.infer<typeof createBatchSchema>;

export const parseBatchOptions = (input: unknown): CreateBatchOptions =>
  parseWith(createBatchSchema, input);
