import { UnrecoverableError } from 'bullmq';
import type { JobPart, PredictionJobData, PredictionJobResult } from '@app/common';
import { joinProvenance } from '../batching/split-outcome';
import { JobHandedBack } from './job-intake';

/**
 * The parts of a job as they are run: each request's share of a coalesced job, or the whole job
 * as one part. A job that carries no texts, a text that is not a non-empty string, or parts that
 * do not add up to the texts fail it for good (`UnrecoverableError`): a retry cannot help.
 */
export function partsOf(data: PredictionJobData): JobPart[] {
  const { texts } = data;
  if (!Array.isArray(texts) || texts.length === 0) {
    throw new UnrecoverableError('job carries no texts');
  }
  const bad = texts.findIndex((t) => typeof t !== 'string' || t.trim() === '');
  if (bad >= 0) throw new UnrecoverableError(`item ${bad} is not a non-empty string`);
  const parts = data.parts ?? [
    { count: texts.length, requestId: data.requestId, deadline: data.deadline },
  ];
  if (
    parts.reduce((sum, p) => sum + p.count, 0) !== texts.length ||
    parts.some((p) => !(p.count > 0))
  )
    throw new UnrecoverableError('job parts do not add up to its texts');
  return parts;
}

/**
 * A job's result from its parts' outcomes. A part handed back hands the job back; when every
 * part failed the job fails (and may be retried) with the first reason; otherwise it completes,
 * and each failed part carries its reason and null outputs.
 */
export function joinParts(
  settled: PromiseSettledResult<PredictionJobResult>[],
  parts: readonly JobPart[],
): PredictionJobResult {
  const errors = settled.map((s) => (s.status === 'rejected' ? (s.reason as Error) : undefined));
  const handedBack = errors.find((e) => e instanceof JobHandedBack);
  if (handedBack) throw handedBack;
  if (errors.every(Boolean)) throw errors[0]!;
  if (settled.length === 1)
    return (settled[0] as PromiseFulfilledResult<PredictionJobResult>).value;
  const answered = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  return {
    output: settled.flatMap((s, k) =>
      s.status === 'fulfilled' ? s.value.output : new Array<null>(parts[k].count).fill(null),
    ),
    inferenceMs: Math.max(...answered.map((r) => r.inferenceMs)),
    batchSize: Math.max(...answered.map((r) => r.batchSize)),
    worker: answered[0].worker,
    ...(errors.some(Boolean) ? { partErrors: errors.map((e) => e?.message ?? null) } : {}),
    ...joinProvenance(
      settled.map((s) => (s.status === 'fulfilled' ? s.value : undefined)),
      parts.map((p) => p.count),
    ),
  };
}
