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

/** The fields a results row has of its own; its passthrough columns follow them. */
export interface ResultFields {
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
}

/** One scored row as the results file has it: its own fields, then the passthrough columns. */
export type ScoredRow = ResultFields & { [passthrough: string]: unknown };

/** The CSV form of the results spreads a row's provenance into columns named with this prefix. */
export const PROVENANCE_COLUMN_PREFIX = 'provenance_';

/** Every field of {@link ResultFields}, none forgotten: the type checker holds the two together. */
const RESULT_FIELD_NAMES = Object.keys({
  line: true,
  id: true,
  label: true,
  label_name: true,
  probability: true,
  probabilities: true,
  output: true,
  gold: true,
  gold_name: true,
  provenance: true,
} satisfies Record<keyof ResultFields, true>);

/** The names a passthrough column may not take: a row's own fields and its provenance columns. */
export const RESERVED_COLUMNS = `${RESULT_FIELD_NAMES.join(', ')}, ${PROVENANCE_COLUMN_PREFIX}*`;

/** True when a passthrough column of this name would take the place of a row's own field. */
export function isReservedColumn(name: string): boolean {
  return RESULT_FIELD_NAMES.includes(name) || name.startsWith(PROVENANCE_COLUMN_PREFIX);
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
      const answer: Omit<ResultFields, 'line' | 'id'> = isClassification(output)
        ? {
            label: output.label,
            label_name: output.label_name,
            probability: output.probability,
            ...(output.probabilities ? { probabilities: output.probabilities } : {}),
          }
        : { output };
      const fields: ResultFields = {
        line: row.line,
        id: row.id,
        ...answer,
        ...(row.gold !== undefined
          ? { gold: row.gold + batch.labelBase, gold_name: batch.labels[row.gold] }
          : {}),
        ...(options.provenance && provenance ? { provenance: provenance[i] } : {}),
      };
      scored.push({ ...fields, ...row.passthrough });
    });
  }
  return scored.sort((a, b) => a.line - b.line);
}
