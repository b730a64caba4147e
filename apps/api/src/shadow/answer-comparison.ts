/** What the comparison reads of one answer (the built-in text classifier's fields). */
interface ClassAnswer {
  label?: unknown;
  label_name?: unknown;
  probability?: unknown;
  probabilities?: unknown;
}

/** One label as an answer gave it. */
export interface AnswerLabel {
  label?: number;
  label_name?: string;
  probability?: number;
}

/** A text the shadow answered differently from the primary. */
export interface Disagreement {
  predictionId: string;
  /** The text, cut to {@link MAX_SAMPLE_TEXT} characters. */
  text: string;
  primary: AnswerLabel;
  shadow: AnswerLabel;
  at: string;
}

/** What comparing the answers of one job found. */
export interface AnswerComparison {
  /** Texts whose two answers both name a label. */
  texts: number;
  /** Of those, the texts both answers give the same label. */
  agreed: number;
  /** The absolute probability difference of each text that has one (see {@link compareAnswers}). */
  differences: number[];
  disagreements: Disagreement[];
}

/** Characters of a text kept in a disagreement sample. */
export const MAX_SAMPLE_TEXT = 500;

/**
 * Compares a primary's answers with a shadow's, text by text. Two answers agree when they name
 * the same label: the same `label_name` when both have one, else the same `label` (class id).
 * The probability difference of a text is |p − q|, where p is the probability the primary gave
 * its top label and q the probability the shadow gave that same class id (from the shadow's
 * `probabilities`, which shadow copies always ask for; or its `probability` when it chose that
 * class too). Answers that name no label (a custom handler's) are not compared.
 */
export function compareAnswers(
  predictionId: string,
  texts: readonly string[],
  primary: readonly unknown[],
  shadow: readonly unknown[],
  at = new Date().toISOString(),
): AnswerComparison {
  const result: AnswerComparison = {
    texts: 0,
    agreed: 0,
    differences: [],
    disagreements: [],
  };
  const count = Math.min(texts.length, primary.length, shadow.length);
  for (let i = 0; i < count; i++) {
    const p = labelOf(primary[i]);
    const s = labelOf(shadow[i]);
    const same = sameLabel(p, s);
    if (same === undefined) continue;
    result.texts++;
    if (same) result.agreed++;
    else
      result.disagreements.push({
        predictionId,
        text: texts[i].slice(0, MAX_SAMPLE_TEXT),
        primary: p,
        shadow: s,
        at,
      });
    const q = probabilityOfClass(
      shadow[i] as ClassAnswer,
      p.label,
      same ? s.probability : undefined,
    );
    if (p.probability !== undefined && q !== undefined)
      result.differences.push(Math.abs(p.probability - q));
  }
  return result;
}

function labelOf(answer: unknown): AnswerLabel {
  const a = (answer && typeof answer === 'object' ? answer : {}) as ClassAnswer;
  return {
    ...(Number.isInteger(a.label) ? { label: a.label as number } : {}),
    ...(typeof a.label_name === 'string' ? { label_name: a.label_name } : {}),
    ...(isProbability(a.probability) ? { probability: a.probability } : {}),
  };
}

/** Whether two answers name the same label; undefined when they cannot be compared. */
function sameLabel(p: AnswerLabel, s: AnswerLabel): boolean | undefined {
  if (p.label_name !== undefined && s.label_name !== undefined)
    return p.label_name === s.label_name;
  if (p.label !== undefined && s.label !== undefined) return p.label === s.label;
  return undefined;
}

function probabilityOfClass(
  answer: ClassAnswer,
  label: number | undefined,
  fallback: number | undefined,
): number | undefined {
  if (label !== undefined && Array.isArray(answer.probabilities)) {
    const q: unknown = answer.probabilities[label];
    if (isProbability(q)) return q;
  }
  return fallback;
}

const isProbability = (value: unknown): value is number =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= 1;
