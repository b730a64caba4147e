import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_SAMPLE_TEXT, compareAnswers } from './answer-comparison';

const answer = (label: number, name: string, probabilities: number[]) => ({
  label,
  label_name: name,
  probability: probabilities[label],
  probabilities,
});
const withoutVector = ({ probabilities: _, ...rest }: ReturnType<typeof answer>) => rest;

describe('compareAnswers', () => {
  it('counts a text as agreed when both answers name the same label, with no difference', () => {
    const a = answer(1, 'Sports', [0.1, 0.7, 0.1, 0.1]);
    const result = compareAnswers('p', ['t'], [withoutVector(a)], [a], 'now');
    assert.deepEqual(result, {
      texts: 1,
      agreed: 1,
      differences: [0],
      disagreements: [],
    });
  });

  it("measures the shadow's probability of the primary's top class, whatever the shadow chose", () => {
    const primary = withoutVector(answer(1, 'Sports', [0.1, 0.6, 0.2, 0.1]));
    const shadow = answer(2, 'Business', [0.1, 0.3, 0.5, 0.1]);
    const result = compareAnswers('p', ['Oil prices'], [primary], [shadow], 'now');
    assert.equal(result.texts, 1);
    assert.equal(result.agreed, 0);
    assert.equal(result.differences.length, 1);
    assert.ok(Math.abs(result.differences[0] - 0.3) < 1e-12);
    assert.deepEqual(result.disagreements, [
      {
        predictionId: 'p',
        text: 'Oil prices',
        primary: { label: 1, label_name: 'Sports', probability: 0.6 },
        shadow: { label: 2, label_name: 'Business', probability: 0.5 },
        at: 'now',
      },
    ]);
  });

  it('tells labels apart by name first: a renamed label disagrees although its class id is the same', () => {
    const vector = [0.1, 0.7, 0.1, 0.1];
    const result = compareAnswers(
      'p',
      ['t'],
      [answer(1, 'Sports', vector)],
      [answer(1, 'v2-Sports', vector)],
    );
    assert.equal(result.agreed, 0);
    assert.deepEqual(result.differences, [0], 'the same class id, the same probability');
  });

  it('compares class ids when an answer has no label names, and skips answers with no label', () => {
    const result = compareAnswers(
      'p',
      ['a', 'b', 'c'],
      [{ label: 0, probability: 0.9 }, { label: 3 }, { score: 1 }],
      [{ label: 0, probability: 0.8 }, { label: 2 }, { score: 1 }],
    );
    assert.equal(result.texts, 2);
    assert.equal(result.agreed, 1);
    assert.equal(result.differences.length, 1, 'only the first has both probabilities');
    assert.ok(Math.abs(result.differences[0] - 0.1) < 1e-12);
  });

  it('keeps a bounded piece of each disagreeing text', () => {
    const long = 'x'.repeat(MAX_SAMPLE_TEXT * 3);
    const result = compareAnswers('p', [long], [{ label: 0 }], [{ label: 1 }]);
    assert.equal(result.disagreements[0].text.length, MAX_SAMPLE_TEXT);
  });
});
