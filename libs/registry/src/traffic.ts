/** Weight of each version in a model's traffic split; weights need not sum to 100. */
export type TrafficWeights = Record<string, number>;

/**
 * Picks a version in proportion to its weight. `random` is a number in [0, 1).
 * Returns undefined when no version has a positive weight.
 */
export function pickVersion(weights: TrafficWeights, random: number): string | undefined {
  const entries = Object.entries(weights).filter(([, w]) => w > 0);
  const total = entries.reduce((sum, [, w]) => sum + w, 0);
  if (total <= 0) return undefined;
  let threshold = random * total;
  for (const [version, weight] of entries) {
    threshold -= weight;
    if (threshold < 0) return version;
  }
  return entries[entries.length - 1][0];
}
