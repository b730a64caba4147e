import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { standing } from '@app/common';
import { estimate } from './queue-estimates';

describe('standing', () => {
  it('counts the jobs and texts added before a place and not yet started', () => {
    // The 5th job of a queue whose texts before it number 9; 2 jobs (3 texts) started.
    assert.deepEqual(standing(5, 9, { startedJobs: 2, startedTexts: 3 }), {
      jobsAhead: 2,
      textsAhead: 6,
    });
  });

  it('never goes below zero once the queue has moved past the place', () => {
    assert.deepEqual(standing(5, 9, { startedJobs: 7, startedTexts: 20 }), {
      jobsAhead: 0,
      textsAhead: 0,
    });
  });
});

describe('estimate', () => {
  const now = Date.parse('2026-01-01T00:00:00.000Z');

  it('starts once the texts ahead are answered and finishes once its own are', () => {
    const at = estimate({ jobsAhead: 3, textsAhead: 20 }, 10, 10, now);
    assert.deepEqual(at, {
      position: 3,
      texts_ahead: 20,
      estimated_start_at: '2026-01-01T00:00:02.000Z',
      estimated_finish_at: '2026-01-01T00:00:03.000Z',
    });
  });

  it('gives no times while no worker reports a throughput', () => {
    const at = estimate({ jobsAhead: 3, textsAhead: 20 }, 10, 0, now);
    assert.equal(at.estimated_start_at, null);
    assert.equal(at.estimated_finish_at, null);
    assert.equal(at.position, 3);
  });
});
