import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LoadRetries, loadRetryDelay } from './load-retries';

describe('loadRetryDelay', () => {
  it('doubles from the first delay up to the cap', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((n) => loadRetryDelay(n, 1000, 10_000)),
      [1000, 2000, 4000, 8000, 10_000, 10_000],
    );
  });
});

describe('LoadRetries', () => {
  it('tries a version that never failed', () => {
    assert.equal(new LoadRetries(1000, 8000, () => 0).due('m@1', 'a'), true);
  });

  it('waits out a backoff that doubles with each failure from the same record', () => {
    let now = 0;
    const retries = new LoadRetries(1000, 8000, () => now);
    assert.equal(retries.failed('m@1', 'a', 'gone').retryAt, 1000);
    now = 999;
    assert.equal(retries.due('m@1', 'a'), false);
    now = 1000;
    assert.equal(retries.due('m@1', 'a'), true);
    const second = retries.failed('m@1', 'a', 'gone');
    assert.equal(second.failures, 2);
    assert.equal(second.retryAt, 3000);
  });

  it('tries again at once when the record changed, and counts from one', () => {
    const retries = new LoadRetries(1000, 8000, () => 0);
    retries.failed('m@1', 'a', 'gone');
    retries.failed('m@1', 'a', 'gone');
    assert.equal(retries.due('m@1', 'b'), true);
    assert.equal(retries.failed('m@1', 'b', 'still gone').failures, 1);
  });

  it('forgets a version that loaded', () => {
    const retries = new LoadRetries(1000, 8000, () => 0);
    retries.failed('m@1', 'a', 'gone');
    assert.deepEqual(retries.keys(), ['m@1']);
    assert.equal(retries.forget('m@1'), true);
    assert.equal(retries.due('m@1', 'a'), true);
    assert.equal(retries.forget('m@1'), false);
  });
});
