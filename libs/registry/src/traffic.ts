/** Weight of each version in a model's traffic split; weights need not sum to 100. */
export type TrafficWeights = Record<string, number>;

/**
 * Picks a version in proportion to its weight: with weights w_i, version i for a share
 * w_i / Σw of the values of `random`, a number in [0, 1) (uniform, for a fair pick). Returns
 * undefined when no version has a positive, finite weight. Weights are divided by the largest
 * before they are summed, so neither huge weights (whose sum would be Infinity, giving the last
 * version every call) nor tiny ones (whose products with `random` would round to a few
 * subnormal steps) skew the pick.
 */
export function pickVersion(weights: TrafficWeights, random: number): string | undefined {
  const entries = Object.entries(weights).filter(([, w]) => w > 0 && Number.isFinite(w));
  if (entries.length === 0) return undefined;
  const largest = Math.max(...entries.map(([, w]) => w));
  const scaled = entries.map(([version, w]) => [version, w / largest] as const);
  const total = scaled.reduce((sum, [, w]) => sum + w, 0);
  let threshold = random * total;
  for (const [version, weight] of scaled) {
    threshold -= weight;
    if (threshold < 0) return version;
  }
  return scaled[scaled.length - 1][0];
}
