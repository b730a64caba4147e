import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { pickVersion, type TrafficWeights } from './traffic';

/** Points spread evenly over [0, 1): every share of the interval holds its share of them, ±1. */
const GRID = 2000;
const grid = Array.from({ length: GRID }, (_, k) => (k + 0.5) / GRID);

/** How often each version is picked over the grid, as a share of the picks. */
function shares(weights: TrafficWeights): Map<string, number> {
  const counts = new Map<string, number>();
  for (const random of grid) {
    const version = pickVersion(weights, random);
    assert.ok(version !== undefined);
    counts.set(version, (counts.get(version) ?? 0) + 1);
  }
  return new Map([...counts].map(([version, n]) => [version, n / GRID]));
}

/** w_i / Σw, summed without overflow or underflow (each weight over the largest first). */
function expected(weights: TrafficWeights): Map<string, number> {
  const largest = Math.max(...Object.values(weights));
  const scaled = Object.entries(weights).map(([v, w]) => [v, w / largest] as const);
  const total = scaled.reduce((sum, [, w]) => sum + w, 0);
  return new Map(scaled.map(([v, w]) => [v, w / total]));
}

/** Positive weights from the smallest double to the largest, and every scale between. */
const weight = fc.oneof(
  fc.constantFrom(Number.MIN_VALUE, 1e-300, 1e-10, 1, 100, 1e6, 1e300, 1e308, Number.MAX_VALUE),
  fc.double({ min: Number.MIN_VALUE, max: Number.MAX_VALUE, noNaN: true }),
  fc.double({ min: 0.001, max: 1000, noNaN: true }),
);
const split = fc
  .uniqueArray(fc.tuple(fc.stringMatching(/^[1-9][0-9]{0,2}$/), weight), {
    minLength: 1,
    maxLength: 6,
    selector: ([version]) => version,
  })
  .map((entries): TrafficWeights => Object.fromEntries(entries));

describe('pickVersion', () => {
  it('picks each version for its weight share of uniform values, huge and tiny weights alike', () => {
    fc.assert(
      fc.property(split, (weights) => {
        const want = expected(weights);
        const got = shares(weights);
        // A share p of the grid holds between p·GRID − 1 and p·GRID + 1 of its points.
        for (const [version, p] of want) {
          assert.ok(
            Math.abs((got.get(version) ?? 0) - p) <= 1.5 / GRID,
            `${version}: ${got.get(version) ?? 0} picked, ${p} wanted, of ${JSON.stringify(weights)}`,
          );
        }
      }),
      { numRuns: 300 },
    );
  });

  it('splits weights of 1e308 evenly, where their sum is Infinity', () => {
    assert.deepEqual(
      shares({ 1: 1e308, 2: 1e308 }),
      new Map([
        ['1', 0.5],
        ['2', 0.5],
      ]),
    );
    assert.deepEqual(
      shares({ 1: 5e-324, 2: 5e-324 }),
      new Map([
        ['1', 0.5],
        ['2', 0.5],
      ]),
    );
  });

  it('never picks a version of weight 0, or of a weight that is not a finite positive number', () => {
    const weights = { 1: 0, 2: 3, 3: -1, 4: Number.NaN, 5: Infinity };
    assert.deepEqual([...shares(weights).keys()], ['2']);
    assert.equal(pickVersion({ 1: 0 }, 0.5), undefined);
    assert.equal(pickVersion({}, 0.5), undefined);
  });
});
