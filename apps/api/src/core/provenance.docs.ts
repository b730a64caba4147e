import { z } from 'zod';
import { describes, responseSchema } from './api-docs';
import type { PredictionProvenance, TextProvenance } from './provenance';

const shared = {
  model: z.string(),
  version: z.string(),
  package_sha256: z
    .string()
    .nullable()
    .describe(
      'content hash of the package: sha256 of the sorted sha256sum-style listing of the manifest (without name and version) and the files it names',
    ),
  provider: z.string().describe('execution provider of the forward passes: `cpu` or `cuda`'),
  precision: z.string().describe('precision of the graph: `fp32` or `fp16`'),
  worker: z.string().describe('worker that ran the job'),
  batch_id: z
    .string()
    .nullable()
    .describe('id of the forward-pass group; null when the result cache answered every text'),
  batch_size: z
    .number()
    .int()
    .describe(
      'texts in the largest forward pass that held the job; 0 when all came from the cache',
    ),
  queue_wait_ms: z.number().describe('from creation until a worker took the job'),
  inference_ms: z.number().describe('time of the forward passes that held the job'),
};

/** Provenance of a whole prediction. */
export const provenanceSchema = responseSchema(
  'Provenance',
  describes<PredictionProvenance>()(
    z
      .object({
        ...shared,
        cached_texts: z.number().int().describe('texts the result cache answered'),
        cached: z.boolean().describe('true when the result cache answered every text'),
      })
      .describe('what produced the output'),
  ),
);

/** Provenance of one text (a sync answer with `?provenance=true`, a batch result row). */
export const textProvenanceSchema = responseSchema(
  'TextProvenance',
  describes<TextProvenance>()(
    z
      .object({
        ...shared,
        cached: z.boolean().describe('true when the result cache answered this text'),
      })
      .describe("what produced this text's answer (the job's figures, the cache flag per text)"),
  ),
);
