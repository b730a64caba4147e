import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { joinArticles } from './long-articles';

/** 40 rows of each of two classes, each row's text naming its class and its number. */
const ROWS = ['1', '2'].flatMap((label) =>
  Array.from({ length: 40 }, (_, i) => [label, `title ${label}.${i}`, `text ${label}.${i}`]),
);

describe('long articles joined from rows of one class', () => {
  it('joins 4 to 8 rows of one class, each row at most once, the same for the same seed', () => {
    const articles = joinArticles(ROWS, 27);
    assert.deepEqual(joinArticles(ROWS, 27), articles);
    const seen = new Set<string>();
    for (const [label, title, body] of articles) {
      const parts = `${title} ${body}`.match(/text \d\.\d+/g)!;
      assert.ok(parts.length >= 4 && parts.length <= 8, `${parts.length} rows`);
      for (const part of parts) {
        assert.equal(part.split(' ')[1].split('.')[0], label, 'one class an article');
        assert.ok(!seen.has(part), `${part} used once`);
        seen.add(part);
      }
    }
    assert.ok(seen.size > 60, 'most rows are used');
    // Control: another seed draws other articles.
    assert.notDeepEqual(joinArticles(ROWS, 28), articles);
  });
});
