import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allocateRowScores, predictionsOf, scoreRows } from './row-scores';
import { softmax } from './text-classification';

const output = {
  data: new Float32Array([2, -1, 0.5, 0, 0, 0, -3, 7, 7.25]),
  rows: 3,
  width: 3,
};
const labels = ['a', 'b', 'c'];

describe('row scores', () => {
  it('writes each row at its index, with the same numbers softmax gives', () => {
    const scores = allocateRowScores(5, 3, { probabilities: true });
    scoreRows(output, scores, [4, 0, 2]);
    const [at4, at0, at2] = [0, 1, 2].map((row) =>
      softmax(output.data.subarray(row * 3, row * 3 + 3)),
    );
    const predictions = predictionsOf(scores, labels);
    assert.deepEqual(predictions[4], {
      label: 0,
      label_name: 'a',
      probability: at4[0],
      probabilities: at4,
    });
    assert.deepEqual(predictions[0].probabilities, at0);
    assert.equal(predictions[0].label, 0, 'a tie goes to the first class');
    assert.deepEqual(predictions[2], {
      label: 2,
      label_name: 'c',
      probability: at2[2],
      probabilities: at2,
    });
  });

  it('keeps no probability vectors unless asked', () => {
    const scores = allocateRowScores(3, 3);
    scoreRows(output, scores, [0, 1, 2]);
    assert.equal(scores.probabilities, undefined);
    const predictions = predictionsOf(scores, labels);
    assert.ok(predictions.every((p) => !('probabilities' in p)));
    assert.deepEqual(
      predictions.map((p) => p.label_name),
      ['a', 'a', 'c'],
    );
  });
});
