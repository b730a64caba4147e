import type { Handler, PostprocessOptions } from '@app/handler';

/** Figures of one batch run through the three stages. */
export interface BatchTimings {
  preprocessMs: number;
  inferenceMs: number;
  postprocessMs: number;
}

/**
 * The reference the tests and benchmarks compare against: texts through
 * preprocess → inference → postprocess as one batch, without packing, timing each stage.
 */
export async function runBatch<T>(
  handler: Handler<T>,
  texts: readonly string[],
  options?: PostprocessOptions,
): Promise<{ results: T[]; timings: BatchTimings }> {
  const t0 = performance.now();
  const encoded = await handler.preprocess(texts);
  const t1 = performance.now();
  const output = await handler.inference(encoded);
  const t2 = performance.now();
  const results = handler.postprocess(output, options);
  const t3 = performance.now();
  return {
    results,
    timings: { preprocessMs: t1 - t0, inferenceMs: t2 - t1, postprocessMs: t3 - t2 },
  };
}
