import assert from 'node:assert/strict';
import type { Prediction } from '@app/handler';

/** Four news texts, one of each AG News class. */
export const NEWS_TEXTS = [
  'The Yankees beat the Red Sox 5-3 on a walk-off homer in the ninth inning.',
  'Oil prices jumped after OPEC agreed to cut output.',
  'Microsoft releases a security patch for Windows.',
  'Peace talks resume in the Middle East as leaders meet in Cairo.',
];

/** Same label, and probabilities equal up to float noise of different batch shapes. */
export function assertSamePredictions(actual: Prediction[], expected: Prediction[]): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((a, i) => {
    assert.equal(a.label, expected[i].label, `text ${i} label`);
    assert.equal(a.label_name, expected[i].label_name);
    assert.ok(Math.abs(a.probability - expected[i].probability) < 1e-5, `text ${i} probability`);
  });
}
