import type { TextProvenance } from '../core/provenance';
import type { BatchSummary } from './batch.store';
import type { ChunkOutcome } from './batch-flow';

/** The output of the built-in classifier for one text. */
interface Classification {
  label: number;
  label_name: string;
  probability: number;
  probabilities?: number[];
}

/** One scored row as the results file has it. */
export interface ScoredRow {
  line: number;
  id: string;
  /** A classifier's answer, flattened into the row. */
  label?: number;
  label_name?: string;
  probability?: number;
  probabilities?: number[];
  /** Any other handler's answer, as it came. */
  output?: unknown;
  /** The gold label as the input numbered it, and its name. */
  gold?: number;
  gold_name?: string;
  /** What produced the answer. */
  provenance?: TextProvenance;
  [passthrough: string]: unknown;
}

/** True for a classifier's answer; a custom handler's output may be anything else. */
export function isClassification(output: unknown): output is Classification {
  const o = output as Partial<Classification> | null;
  return (
    typeof o === 'object' &&
    o !== null &&
    Number.isInteger(o.label) &&
    typeof o.label_name === 'string' &&
    typeof o.probability === 'number'
  );
}

/**
 * Counts, and with gold labels the accuracy and confusion matrix, of a batch's chunk outcomes.
 * Rows whose output is not a classification count as scored but not towards accuracy.
 */
export function summarize(
  outcomes: readonly ChunkOutcome[],
  labels: readonly string[],
  gold: boolean,
): BatchSummary {
  const confusion = labels.map(() => labels.map(() => 0));
  const summary: BatchSummary = { succeeded: 0, failed: 0, cached_rows: 0 };
  let correct = 0;
  let judged = 0;
  for (const { rows, outputs, provenance, error } of outcomes) {
    if (error !== undefined) {
      if (error !== null) summary.failed += rows.length;
      continue;
    }
    summary.succeeded += rows.length;
    summary.cached_rows! += provenance?.filter((p) => p.cached).length ?? 0;
    rows.forEach((row, i) => {
      const output = outputs[i];
      if (!gold || row.gold === undefined || !isClassification(output)) return;
      if (!confusion[row.gold] || confusion[row.gold][output.label] === undefined) return;
      judged++;
      confusion[row.gold][output.label]++;
      if (row.gold === output.label) correct++;
    });
  }
  if (gold) {
    Object.assign(summary, {
      accuracy: judged ? correct / judged : 0,
      labels: [...labels],
      confusion,
    });
  }
  return summary;
}

/**
 * Scored rows in input order, joined to their ids and passthrough columns. A gold label is shown
 * numbered as the input numbered it (`label_base`), with its name.
 */
export function scoredRows(
  outcomes: readonly ChunkOutcome[],
  batch: { labels: readonly string[]; labelBase: number },
  options: { provenance?: boolean } = {},
): ScoredRow[] {
  const scored: ScoredRow[] = [];
  for (const { rows, outputs, provenance, error } of outcomes) {
    if (error !== undefined) continue;
    rows.forEach((row, i) => {
      const output = outputs[i];
      const answer = isClassification(output)
        ? {
            label: output.label,
            label_name: output.label_name,
            probability: output.probability,
            ...(output.probabilities ? { probabilities: output.probabilities } : {}),
          }
        : { output };
      scored.push({
        line: row.line,
        id: row.id,
        ...answer,
        ...(row.gold !== undefined
          ? { gold: row.gold + batch.labelBase, gold_name: batch.labels[row.gold] }
          : {}),
        ...(options.provenance && provenance ? { provenance: provenance[i] } : {}),
        ...row.passthrough,
      });
    });
  }
  return scored.sort((a, b) => a.line - b.line);
}
