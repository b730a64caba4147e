/** Limits of one packed batch. */
export interface PackingLimits {
  /** Most padded tokens (rows × longest row) a batch may hold. */
  readonly maxBatchTokens: number;
  /** Most rows a batch may hold. */
  readonly maxBatchSize: number;
  /**
   * What one forward pass costs beyond its tokens, in padded-token units (default 0). The
   * packer minimises the sum over batches of this overhead plus rows × longest length, so it
   * splits a run of mixed lengths into a few homogeneous batches only where that pays.
   */
  readonly passOverheadTokens?: number;
}

/**
 * Sorts items by token length and cuts the sorted run into batches, each within
 * `maxBatchSize` rows and `maxBatchTokens` padded tokens (rows × longest length), choosing the
 * cuts that minimise the total padded tokens plus `passOverheadTokens` per batch (dynamic
 * programming over the sorted run). Returns indices into `lengths`; every index appears once.
 * An item over the token budget on its own gets a batch of one.
 */
export function packByTokenBudget(lengths: readonly number[], limits: PackingLimits): number[][] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[a] - lengths[b] || a - b);
  const sorted = order.map((i) => lengths[i]);
  const overhead = limits.passOverheadTokens ?? 0;
  const n = sorted.length;
  // cost[j]: least cost of packing sorted[0..j-1]; start[j]: where the last batch begins.
  const cost = new Float64Array(n + 1);
  const start = new Int32Array(n + 1);
  for (let j = 1; j <= n; j++) {
    const width = sorted[j - 1];
    cost[j] = Infinity;
    for (let i = j - 1; i >= 0 && j - i <= limits.maxBatchSize; i--) {
      const rows = j - i;
      if (rows > 1 && rows * width > limits.maxBatchTokens) break;
      const candidate = cost[i] + overhead + rows * width;
      // On a tie, the larger batch (found later) wins: fewer passes for the same tokens.
      if (candidate <= cost[j]) {
        cost[j] = candidate;
        start[j] = i;
      }
    }
  }
  const batches: number[][] = [];
  for (let j = n; j > 0; j = start[j]) batches.push(order.slice(start[j], j));
  return batches.reverse();
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
