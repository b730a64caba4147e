import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UnrecoverableError } from 'bullmq';
import type { PredictionJobData, PredictionJobResult } from '@app/common';
import { JobHandedBack } from './job-intake';
import { joinParts, partsOf } from './job-parts';

const job = (extra: Partial<PredictionJobData>): PredictionJobData => ({
  model: 'm',
  version: '1',
  texts: ['a', 'b', 'c'],
  ...extra,
});

const answer = (labels: string[], inferenceMs = 5): PredictionJobResult => ({
  output: labels.map((label) => ({ label })),
  inferenceMs,
  batchSize: labels.length,
  worker: 'w1',
});

const fulfilled = (value: PredictionJobResult): PromiseSettledResult<PredictionJobResult> => ({
  status: 'fulfilled',
  value,
});
const rejected = (reason: Error): PromiseSettledResult<PredictionJobResult> => ({
  status: 'rejected',
  reason,
});

describe('partsOf', () => {
  it('makes a job without parts one part, with its request id and deadline', () => {
    assert.deepEqual(partsOf(job({ requestId: 'r', deadline: 9 })), [
      { count: 3, requestId: 'r', deadline: 9 },
    ]);
  });

  it('keeps the parts of a coalesced job that add up to its texts', () => {
    const parts = [{ count: 1 }, { count: 2 }];
    assert.deepEqual(partsOf(job({ parts })), parts);
  });

  it('fails for good a job no retry can fix', () => {
    const malformed: Partial<PredictionJobData>[] = [
      { texts: [] },
      { texts: 'abc' as unknown as string[] },
      { texts: ['a', '  '] },
      { texts: ['a', 7 as unknown as string] },
      { parts: [{ count: 1 }, { count: 1 }] },
      { parts: [{ count: 3 }, { count: 0 }] },
    ];
    for (const extra of malformed)
      assert.throws(() => partsOf(job(extra)), UnrecoverableError, JSON.stringify(extra));
  });
});

describe('joinParts', () => {
  const parts = [{ count: 1 }, { count: 2 }];

  it('returns a lone part’s answer as the job’s', () => {
    const only = answer(['x']);
    assert.equal(joinParts([fulfilled(only)], [{ count: 1 }]), only);
  });

  it('joins the parts’ answers in order, with null outputs and a reason for a failed part', () => {
    const joined = joinParts(
      [rejected(new Error('bad text')), fulfilled(answer(['y', 'z'], 8))],
      parts,
    );
    assert.deepEqual(joined.output, [null, { label: 'y' }, { label: 'z' }]);
    assert.deepEqual(joined.partErrors, ['bad text', null]);
    assert.equal(joined.inferenceMs, 8);
  });

  it('has no part errors when every part was answered', () => {
    const joined = joinParts([fulfilled(answer(['x'])), fulfilled(answer(['y', 'z']))], parts);
    assert.equal(joined.partErrors, undefined);
    assert.equal(joined.output.length, 3);
  });

  it('fails the job with the first reason when every part failed', () => {
    assert.throws(
      () => joinParts([rejected(new Error('first')), rejected(new Error('second'))], parts),
      /first/,
    );
  });

  it('hands the whole job back when a part was handed back', () => {
    assert.throws(
      () =>
        joinParts([fulfilled(answer(['x'])), rejected(new JobHandedBack('handed back'))], parts),
      JobHandedBack,
    );
  });
});
