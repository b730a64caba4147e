// The specs' assertion on a refused request (apps/api/src/**/*.spec.ts).
import assert from 'node:assert/strict';
import { Problem } from './problem';

/** Asserts `fn` throws a 400 Problem whose detail matches `pattern`. */
export function assertBadRequest(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof Problem);
    assert.equal(error.getStatus(), 400);
    assert.match(error.detail ?? '', pattern);
    return true;
  });
}
