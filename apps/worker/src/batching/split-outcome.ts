import type { PredictionJobResult } from '@app/common';
import type { GroupOutcome } from '../runtime/inference-client';

/**
 * Splits the outcome of a group back per job, in the group's order: each job gets its texts'
 * answers (without the probability vector unless it asked for one), the time of the forward
 * passes that held its texts, and the size of the largest of them.
 */
export function splitOutcome(
  outcome: GroupOutcome,
  jobs: readonly { texts: readonly string[]; probabilities?: boolean }[],
  worker: string,
): PredictionJobResult[] {
  const { batches } = outcome;
  let offset = 0;
  return jobs.map((job) => {
    const count = job.texts.length;
    const held = [...new Set(outcome.batchOf.slice(offset, offset + count))];
    const output = outcome.results.slice(offset, offset + count);
    offset += count;
    return {
      output: job.probabilities ? output : output.map(withoutProbabilities),
      inferenceMs: held.reduce((sum, b) => sum + batches[b].inferenceMs, 0),
      batchSize: Math.max(...held.map((b) => batches[b].size)),
      worker,
    };
  });
}

function withoutProbabilities(result: unknown): unknown {
  if (result && typeof result === 'object' && 'probabilities' in result) {
    const { probabilities: _, ...rest } = result as Record<string, unknown>;
    return rest;
  }
  return result;
}
