import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chunkByLength } from './batch-input';

describe('chunkByLength', () => {
  const rows = Array.from({ length: 10 }, (_, i) => ({
    text: 'x'.repeat(((i * 7) % 10) + 1),
    n: i,
  }));

  it('keeps every row once, in chunks of near-equal size within the limit', () => {
    const chunks = chunkByLength(rows, 4);
    assert.deepEqual(
      chunks.map((c) => c.length),
      [3, 3, 4],
    );
    assert.deepEqual(
      chunks
        .flat()
        .map((r) => r.n)
        .sort((a, b) => a - b),
      rows.map((r) => r.n),
    );
  });

  it('puts texts of similar length together', () => {
    const chunks = chunkByLength(rows, 5);
    const longestOfFirst = Math.max(...chunks[0].map((r) => r.text.length));
    const shortestOfSecond = Math.min(...chunks[1].map((r) => r.text.length));
    assert.ok(longestOfFirst <= shortestOfSecond);
  });
});
