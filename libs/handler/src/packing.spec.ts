import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { batchTokens, fixedBatches, packByTokenBudget } from './packing';

describe('packByTokenBudget', () => {
  it('places every index exactly once', () => {
    const lengths = [5, 90, 12, 12, 300, 7, 64, 64, 1];
    const batches = packByTokenBudget(lengths, { maxBatchTokens: 200, maxBatchSize: 3 });
    assert.deepEqual(
      batches.flat().sort((a, b) => a - b),
      lengths.map((_, i) => i),
    );
  });

  it('keeps each batch within the token budget and row limit', () => {
    const lengths = Array.from({ length: 500 }, (_, i) => ((i * 37) % 120) + 3);
    const limits = { maxBatchTokens: 1000, maxBatchSize: 16 };
    for (const batch of packByTokenBudget(lengths, limits)) {
      const { padded } = batchTokens(batch.map((i) => lengths[i]));
      assert.ok(batch.length <= limits.maxBatchSize, `batch of ${batch.length} rows`);
      assert.ok(padded <= limits.maxBatchTokens, `batch of ${padded} padded tokens`);
    }
  });

  it('groups similar lengths so that padding stays small', () => {
    const lengths = [10, 100, 11, 101, 12, 102];
    const batches = packByTokenBudget(lengths, {
      maxBatchTokens: 10_000,
      maxBatchSize: 3,
      passOverheadTokens: 100,
    });
    assert.deepEqual(batches, [
      [0, 2, 4],
      [1, 3, 5],
    ]);
  });

  it('with no pass overhead, never pads: each length gets its own batch', () => {
    const lengths = [10, 10, 10, 11, 20, 21, 40];
    const batches = packByTokenBudget(lengths, { maxBatchTokens: 10_000, maxBatchSize: 100 });
    assert.deepEqual(batches, [[0, 1, 2], [3], [4], [5], [6]]);
    for (const batch of batches) {
      const { real, padded } = batchTokens(batch.map((i) => lengths[i]));
      assert.equal(padded, real);
    }
  });

  it('with a large pass overhead, uses as few batches as the limits allow', () => {
    const lengths = [10, 10, 10, 11, 20, 21, 40];
    const batches = packByTokenBudget(lengths, {
      maxBatchTokens: 10_000,
      maxBatchSize: 4,
      passOverheadTokens: 1e6,
    });
    assert.equal(batches.length, 2);
  });

  it('splits where the padding saved outweighs one more pass', () => {
    // One batch: 7 × 40 = 280 padded tokens + 32 overhead = 312. Three batches
    // [10,10,10,11] [20,21] [40]: 44 + 42 + 40 + 3 × 32 = 222, the least.
    const lengths = [10, 10, 10, 11, 20, 21, 40];
    const batches = packByTokenBudget(lengths, {
      maxBatchTokens: 10_000,
      maxBatchSize: 100,
      passOverheadTokens: 32,
    });
    assert.deepEqual(batches, [[0, 1, 2, 3], [4, 5], [6]]);
  });

  it('gives an item over the budget a batch of its own', () => {
    const batches = packByTokenBudget([4, 50, 4], { maxBatchTokens: 20, maxBatchSize: 8 });
    assert.deepEqual(batches, [[0, 2], [1]]);
  });
});

describe('fixedBatches and batchTokens', () => {
  it('cuts in order with a short last batch', () => {
    assert.deepEqual(fixedBatches(5, 2), [[0, 1], [2, 3], [4]]);
  });

  it('counts padding to the longest row', () => {
    assert.deepEqual(batchTokens([3, 5, 4]), { real: 12, padded: 15 });
  });
});
