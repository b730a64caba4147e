import type { InferenceOutput, PostprocessOptions, Prediction } from './handler';

/**
 * The answers of a classifier for many texts as typed arrays, one entry (or `width` entries)
 * per text: what an inference thread hands back to be made into {@link Prediction}s elsewhere,
 * as transferable buffers and with no object per text.
 */
export interface RowScores {
  /** Best class of each text. */
  label: Int32Array;
  /** Its probability (doubles: the same numbers `softmax` gives). */
  probability: Float64Array;
  /** Every class's probability, row-major `[texts, width]`; only when asked for. */
  probabilities?: Float64Array;
  /** Classes per text. */
  width: number;
}

/** Room for the scores of `count` texts of `width` classes. */
export function allocateRowScores(
  count: number,
  width: number,
  options: PostprocessOptions = {},
): RowScores {
  return {
    label: new Int32Array(count),
    probability: new Float64Array(count),
    probabilities: options.probabilities ? new Float64Array(count * width) : undefined,
    width,
  };
}

/**
 * Writes the softmax of each row of `output` into `scores`, row `r` at index `at[r]`
 * (numerically stable: the row's largest logit is taken out before `exp`).
 */
export function scoreRows(output: InferenceOutput, scores: RowScores, at: readonly number[]): void {
  const { data, width } = output;
  const exps = new Float64Array(width);
  for (let row = 0; row < output.rows; row++) {
    const base = row * width;
    let max = -Infinity;
    let best = 0;
    for (let k = 0; k < width; k++) {
      if (data[base + k] > max) {
        max = data[base + k];
        best = k;
      }
    }
    let sum = 0;
    for (let k = 0; k < width; k++) {
      exps[k] = Math.exp(data[base + k] - max);
      sum += exps[k];
    }
    const i = at[row];
    scores.label[i] = best;
    scores.probability[i] = exps[best] / sum;
    if (scores.probabilities) {
      for (let k = 0; k < width; k++) scores.probabilities[i * width + k] = exps[k] / sum;
    }
  }
}

/** The {@link Prediction}s the scores say, in order, named by `labels`. */
export function predictionsOf(scores: RowScores, labels: readonly string[]): Prediction[] {
  const { label, probability, probabilities, width } = scores;
  return Array.from(label, (best, i) => {
    const prediction: Prediction = {
      label: best,
      label_name: labels[best],
      probability: probability[i],
    };
    if (probabilities)
      prediction.probabilities = Array.from(probabilities.subarray(i * width, (i + 1) * width));
    return prediction;
  });
}
