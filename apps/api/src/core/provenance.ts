import type { PredictionJobResult, Provenance } from '@app/common';

/** Provenance of a whole prediction: the job's, and whether the cache answered every text. */
export type PredictionProvenance = Provenance & { cached: boolean };

/** Provenance of one text: the job's, with whether the cache answered this text. */
export type TextProvenance = Omit<Provenance, 'cached_texts'> & { cached: boolean };

/** The provenance of a job's answers; null for a job of a worker that gave none. */
export function predictionProvenance(
  result: PredictionJobResult,
  texts: number,
): PredictionProvenance | null {
  if (!result.provenance) return null;
  // Counted from the indices, which a share of a coalesced job has sliced to its own texts.
  const cachedTexts = result.cached?.length ?? 0;
  return {
    ...result.provenance,
    cached_texts: cachedTexts,
    cached: texts > 0 && cachedTexts === texts,
  };
}

/** The share of a job's result that answers its texts `start` to `end` (a coalesced request's). */
export function resultShare(
  result: PredictionJobResult,
  start: number,
  end: number,
): PredictionJobResult {
  const cached = (result.cached ?? []).filter((i) => i >= start && i < end).map((i) => i - start);
  const { cached: _, ...rest } = result;
  return { ...rest, output: result.output.slice(start, end), ...(cached.length ? { cached } : {}) };
}

/** The provenance of each text of a job's answers (none for a job of a worker that gave none). */
export function textProvenances(result: PredictionJobResult): TextProvenance[] | undefined {
  if (!result.provenance) return undefined;
  const { cached_texts: _, ...shared } = result.provenance;
  const cached = new Set(result.cached ?? []);
  return result.output.map((_, i) => ({ ...shared, cached: cached.has(i) }));
}

/**
 * Answers with their provenance, for callers that asked for it: each answer that is an object
 * gets a `provenance` member; any other answer (a custom handler's) is left as it is.
 */
export function withProvenance(result: PredictionJobResult): unknown[] {
  const provenances = textProvenances(result);
  return result.output.map((answer, i) =>
    provenances && answer !== null && typeof answer === 'object' && !Array.isArray(answer)
      ? { ...answer, provenance: provenances[i] }
      : answer,
  );
}
