import type { PredictionJobResult, Provenance } from '@app/common';
import type { GroupOutcome } from '../runtime/inference-client';

/** What every job of a group shares in its provenance. */
export type GroupOrigin = Pick<
  Provenance,
  'model' | 'version' | 'package_sha256' | 'provider' | 'precision' | 'worker'
> & {
  /** Id of the group's forward passes. */
  batchId: string;
};

/**
 * Splits the outcome of a group back per job, in the group's order: each job gets its texts'
 * answers (without the probability vector unless it asked for one), the time of the forward
 * passes that held its texts (every window of a text read as several), the size of the largest
 * of them, and its provenance. Texts the result cache answered (`batchOf` -1, listed in
 * `cached`) count towards no forward pass.
 */
export function splitOutcome(
  outcome: GroupOutcome & { cached?: readonly number[] },
  jobs: readonly { texts: readonly string[]; probabilities?: boolean; queueWaitMs?: number }[],
  origin: GroupOrigin,
): PredictionJobResult[] {
  const { batches } = outcome;
  const cachedSet = outcome.cached?.length ? new Set(outcome.cached) : undefined;
  let offset = 0;
  return jobs.map((job) => {
    const count = job.texts.length;
    const start = offset;
    offset += count;
    const passes = outcome.batchOf.slice(start, start + count);
    if (outcome.windowPasses) {
      for (let i = start; i < start + count; i++) passes.push(...(outcome.windowPasses[i] ?? []));
    }
    const held = [...new Set(passes)].filter((b) => b >= 0);
    const output = outcome.results.slice(start, start + count);
    const cached = cachedSet
      ? job.texts.flatMap((_, i) => (cachedSet.has(start + i) ? [i] : []))
      : [];
    let inferenceMs = 0;
    let batchSize = 0;
    for (const b of held) {
      inferenceMs += batches[b].inferenceMs;
      batchSize = Math.max(batchSize, batches[b].size);
    }
    const result: PredictionJobResult = {
      output: job.probabilities ? output : output.map(withoutProbabilities),
      inferenceMs,
      batchSize,
      worker: origin.worker,
      provenance: {
        model: origin.model,
        version: origin.version,
        package_sha256: origin.package_sha256,
        provider: origin.provider,
        precision: origin.precision,
        worker: origin.worker,
        batch_id: held.length ? origin.batchId : null,
        batch_size: batchSize,
        queue_wait_ms: job.queueWaitMs ?? 0,
        inference_ms: Math.round(inferenceMs * 1000) / 1000,
        cached_texts: cached.length,
      },
    };
    if (cached.length) result.cached = cached;
    return result;
  });
}

function withoutProbabilities(result: unknown): unknown {
  if (result && typeof result === 'object' && 'probabilities' in result) {
    const { probabilities: _, ...rest } = result as Record<string, unknown>;
    return rest;
  }
  return result;
}

/**
 * The provenance of a job run in parts (a coalesced job; a failed part is undefined), as one:
 * the first answered part's, with the largest forward pass and time among the parts (as the
 * job's own figures are), and each part's cached texts at their place in the job.
 */
export function joinProvenance(
  parts: readonly (PredictionJobResult | undefined)[],
  counts: readonly number[],
): Pick<PredictionJobResult, 'provenance' | 'cached'> {
  const answered = parts.filter((p): p is PredictionJobResult => Boolean(p?.provenance));
  if (answered.length === 0) return {};
  let offset = 0;
  const cached = parts.flatMap((part, k) => {
    const start = offset;
    offset += counts[k];
    return (part?.cached ?? []).map((i) => start + i);
  });
  const ran = answered.find((p) => p.provenance!.batch_id !== null) ?? answered[0];
  return {
    provenance: {
      ...ran.provenance!,
      batch_size: Math.max(...answered.map((p) => p.provenance!.batch_size)),
      inference_ms: Math.max(...answered.map((p) => p.provenance!.inference_ms)),
      cached_texts: cached.length,
    },
    ...(cached.length ? { cached } : {}),
  };
}
