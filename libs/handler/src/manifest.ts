import { z } from 'zod';
import type { PackingLimits } from './packing';
import type { WindowOptions } from './tokenizer';

/** The file every model package carries at its root. */
export const MANIFEST_FILE = 'MANIFEST.json';

/** Name of the built-in BERT sequence classifier. */
export const TEXT_CLASSIFICATION = 'text-classification';

const relativeFile = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !p.split(/[\\/]/).includes('..'), {
    message: 'must be a path inside the package (no leading "/" and no "..")',
  });

/** Upper bounds of the batching limits, in a manifest or set through the management API. */
export const BATCHING_BOUNDS = {
  max_batch_size: 4096,
  max_batch_tokens: 1_048_576,
  max_batch_delay_ms: 10_000,
} as const;

/** Micro-batching limits a worker applies to this model version. */
export const batchingSchema = z
  .object({
    max_batch_size: z.number().int().positive().max(BATCHING_BOUNDS.max_batch_size).default(64),
    max_batch_tokens: z
      .number()
      .int()
      .positive()
      .max(BATCHING_BOUNDS.max_batch_tokens)
      .default(8192),
    max_batch_delay_ms: z.number().nonnegative().max(BATCHING_BOUNDS.max_batch_delay_ms).default(5),
    /** Cost of one forward pass beyond its tokens, in tokens: how the packer trades padding for passes. */
    pass_overhead_tokens: z.number().nonnegative().default(128),
    /** Pad each batch's sequence length up to a multiple of this (8 suits a GPU's tensor cores). */
    pad_to_multiple_of: z.number().int().positive().max(64).default(1),
  })
  .strict();

/** Numeric precision of the graph's weights and arithmetic; inputs and logits stay as they are. */
export const precisionSchema = z.enum(['fp32', 'fp16']);

/**
 * How an offline step rewrote the graph (`tools/optimize_graph.py`); absent from a plain export.
 * Informational: the handler serves the graph the same way, and the package hash covers it.
 */
export const graphOptimizationSchema = z
  .object({
    /** The optimizer that rewrote the graph, e.g. `onnxruntime.transformers.optimizer`. */
    optimizer: z.string().min(1),
    /** Its version (for ONNX Runtime's, the onnxruntime release). */
    version: z.string().min(1),
    /** The model type its fusions were chosen for, e.g. `bert`. */
    model_type: z.string().min(1),
    /** How many nodes of each fused operator type the graph holds, e.g. `{ "Attention": 2 }`. */
    fused_operators: z.record(
      z.string().regex(/^[A-Za-z][A-Za-z0-9]*$/, 'an operator type'),
      z.number().int().positive(),
    ),
  })
  .strict();

/**
 * How a text longer than `max_length` is read when set: as overlapping windows of `max_length`
 * tokens (specials included), each run as a row of its own, whose logits are averaged. Absent:
 * the text is truncated to its first `max_length` tokens.
 */
export const windowsSchema = z
  .object({
    /** Tokens each window shares with the one before it. */
    overlap: z.number().int().nonnegative().default(32),
    /** Most windows read from one text; what lies beyond them is not read. */
    max_windows: z.number().int().min(2).max(64).default(8),
  })
  .strict();

/**
 * Most tokens a text is read to (`max_length`, times `max_windows` with windows): the tokenizer
 * binding takes a 32-bit length, so a larger one wrapped round (2^32 + 10 read 10 tokens); 2^31
 * leaves room for the one token more that tells a text too long (`truncation: false`).
 */
export const MAX_TOKENS_READ = 2 ** 31 - 1;

export const manifestSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'letters, digits, "_", "." or "-"'),
    version: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'letters, digits, "_", "." or "-"'),
    /**
     * `text-classification`, or a JS module inside the package (e.g. `handler.js`), which is
     * loaded only where package code is allowed.
     */
    handler: relativeFile.default(TEXT_CLASSIFICATION),
    model_file: relativeFile.optional(),
    tokenizer_file: relativeFile.optional(),
    vocab_file: relativeFile.optional(),
    config_file: relativeFile.optional(),
    extra_files: z.array(relativeFile).default([]),
    labels: z.array(z.string().min(1)).min(2).optional(),
    max_length: z.number().int().min(2).default(512),
    /**
     * What happens to a text longer than `max_length` tokens: cut to it (`true`, as TorchServe's
     * handlers do with `truncation=True`), or refused as an input error (`false`).
     */
    truncation: z.boolean().default(true),
    do_lower_case: z.boolean().default(true),
    /** Long texts read as overlapping windows whose logits are pooled; absent: truncated. */
    windows: windowsSchema.optional(),
    /** `fp16` for a half-precision export of the same model (GPU workers); `fp32` by default. */
    precision: precisionSchema.default('fp32'),
    graph_optimization: graphOptimizationSchema.optional(),
    batching: batchingSchema.default({
      max_batch_size: 64,
      max_batch_tokens: 8192,
      max_batch_delay_ms: 5,
      pass_overhead_tokens: 128,
      pad_to_multiple_of: 1,
    }),
  })
  .strict()
  .superRefine((m, context) => {
    const read = m.max_length * (m.windows?.max_windows ?? 1);
    if (read <= MAX_TOKENS_READ) return;
    const windows = m.windows ? ` × windows.max_windows ${m.windows.max_windows}` : '';
    context.addIssue({
      code: 'custom',
      path: ['max_length'],
      message: `max_length ${m.max_length}${windows} is over the ${MAX_TOKENS_READ} tokens a text may be read to`,
    });
  });

/** A validated manifest, defaults filled in. */
export type ModelManifest = z.infer<typeof manifestSchema>;

/** The windows of a manifest, in the tokenizer's terms; undefined when long texts are truncated. */
export function windowingOf(manifest: ModelManifest): WindowOptions | undefined {
  return manifest.windows
    ? { overlap: manifest.windows.overlap, maxWindows: manifest.windows.max_windows }
    : undefined;
}

/** The packing limits of a manifest's batching section. */
export function packingLimits(batching: ModelManifest['batching']): PackingLimits {
  return {
    maxBatchSize: batching.max_batch_size,
    maxBatchTokens: batching.max_batch_tokens,
    passOverheadTokens: batching.pass_overhead_tokens,
  };
}

/** Formats zod issues as `field: problem; field: problem`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ');
}
