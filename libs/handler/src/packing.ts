/** Limits of one packed batch. */
export interface PackingLimits {
  /** Most padded tokens (rows × longest row) a batch may hold. */
  readonly maxBatchTokens: number;
  /** Most rows a batch may hold. */
  readonly maxBatchSize: number;
}

/**
 * Sorts items by token length and cuts the sorted run into batches whose padded size
 * (rows × longest length) stays within `maxBatchTokens` and whose row count stays within
 * `maxBatchSize`. Returns indices into `lengths`; every index appears exactly once.
 * An item longer than the token budget on its own still gets a batch of one.
 */
export function packByTokenBudget(lengths: readonly number[], limits: PackingLimits): number[][] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[a] - lengths[b] || a - b);
  const batches: number[][] = [];
  let current: number[] = [];
  for (const index of order) {
    // Sorted ascending, so the newcomer is the longest and sets the padded width.
    const paddedIfAdded = (current.length + 1) * lengths[index];
    if (
      current.length > 0 &&
      (current.length >= limits.maxBatchSize || paddedIfAdded > limits.maxBatchTokens)
    ) {
      batches.push(current);
      current = [];
    }
    current.push(index);
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/** Cuts items, in their given order, into fixed-size batches (the naive baseline). */
export function fixedBatches(count: number, size: number): number[][] {
  const batches: number[][] = [];
  for (let start = 0; start < count; start += size) {
    batches.push(Array.from({ length: Math.min(size, count - start) }, (_, i) => start + i));
  }
  return batches;
}

/** Real and padded token counts of a batch padded to its longest member. */
export function batchTokens(lengths: readonly number[]): { real: number; padded: number } {
  let real = 0;
  let longest = 0;
  for (const length of lengths) {
    real += length;
    if (length > longest) longest = length;
  }
  return { real, padded: longest * lengths.length };
}
