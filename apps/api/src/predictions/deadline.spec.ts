import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Problem } from '../core/problem';
import { MAX_DEADLINE_MS, deadlineOf, syncWaitMs } from './deadline';

const NOW = 1_000_000;

describe('deadlineOf', () => {
  it('is undefined when neither the header nor the field is given', () => {
    assert.equal(deadlineOf(undefined, undefined, '#/deadline_ms', NOW), undefined);
  });

  it('reads either as milliseconds from now, and takes the earlier of both', () => {
    assert.equal(deadlineOf('250', undefined, '#/deadline_ms', NOW), NOW + 250);
    assert.equal(deadlineOf(undefined, 400, '#/deadline_ms', NOW), NOW + 400);
    assert.equal(deadlineOf(undefined, '400', 'the query', NOW), NOW + 400);
    assert.equal(deadlineOf('900', 400, '#/deadline_ms', NOW), NOW + 400);
    assert.equal(deadlineOf('300', 400, '#/deadline_ms', NOW), NOW + 300);
  });

  it('refuses values that are not whole milliseconds within the bound, naming the field', () => {
    for (const [header, field] of [
      ['0', undefined],
      ['-1', undefined],
      ['1.5', undefined],
      ['soon', undefined],
      [String(MAX_DEADLINE_MS + 1), undefined],
      [undefined, 0],
      [undefined, 2.5],
      [undefined, true],
    ] as const) {
      assert.throws(
        () => deadlineOf(header, field, '#/deadline_ms', NOW),
        (error: unknown) => error instanceof Problem && error.getStatus() === 400,
        JSON.stringify({ header, field }),
      );
    }
    assert.throws(
      () => deadlineOf(undefined, 0, '#/parameters/deadline_ms', NOW),
      (error: Problem) =>
        (error.extensions.errors as { pointer: string }[])[0].pointer ===
        '#/parameters/deadline_ms',
    );
  });

  it('control: the largest allowed deadline is taken', () => {
    assert.equal(deadlineOf(String(MAX_DEADLINE_MS), 1, '#/deadline_ms', NOW), NOW + 1);
  });
});

describe('syncWaitMs', () => {
  it('waits SYNC_TIMEOUT_MS without a deadline, and no longer than the deadline with one', () => {
    assert.equal(syncWaitMs(30_000, undefined), 30_000);
    const wait = syncWaitMs(30_000, Date.now() + 500);
    assert.ok(wait <= 500 && wait > 0);
    assert.equal(syncWaitMs(300, Date.now() + 60_000), 300);
    assert.equal(syncWaitMs(300, Date.now() - 5), 0);
  });
});
