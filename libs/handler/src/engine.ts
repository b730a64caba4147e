import type { Handler, PostprocessOptions } from './handler';
import { batchTokens, packByTokenBudget, type PackingLimits } from './packing';

/** Figures of one forward pass. */
export interface BatchRecord {
  size: number;
  realTokens: number;
  paddedTokens: number;
  inferenceMs: number;
}

/** Results of `classifyTexts`, in input order, with what each batch cost. */
export interface ClassifyOutcome<T> {
  results: T[];
  batches: BatchRecord[];
  /** For each text, the index in `batches` of the forward pass that held it. */
  batchOf: number[];
  preprocessMs: number;
}

/**
 * Tokenizes all texts at once, sorts them by length, packs them under the token budget,
 * runs each packed batch and puts the answers back in input order. This is what a worker's
 * inference thread, the offline CLI and the benchmarks all run.
 */
export async function classifyTexts<T>(
  handler: Handler<T>,
  texts: readonly string[],
  limits: PackingLimits,
  options: PostprocessOptions = {},
): Promise<ClassifyOutcome<T>> {
  const start = performance.now();
  const encoded = await handler.preprocess(texts);
  const preprocessMs = performance.now() - start;
  const results = new Array<T>(texts.length);
  const batches: BatchRecord[] = [];
  const batchOf = new Array<number>(texts.length);
  for (const indices of packByTokenBudget(
    encoded.map((e) => e.length),
    limits,
  )) {
    const batch = indices.map((i) => encoded[i]);
    const t0 = performance.now();
    const output = await handler.inference(batch);
    const inferenceMs = performance.now() - t0;
    handler.postprocess(output, options).forEach((result, row) => {
      results[indices[row]] = result;
      batchOf[indices[row]] = batches.length;
    });
    const tokens = batchTokens(batch.map((e) => e.length));
    batches.push({
      size: batch.length,
      realTokens: tokens.real,
      paddedTokens: tokens.padded,
      inferenceMs,
    });
  }
  return { results, batches, batchOf, preprocessMs };
}
