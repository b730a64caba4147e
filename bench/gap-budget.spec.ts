import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  busyMs,
  busyShare,
  gapBudget,
  loggedPasses,
  steadyBudget,
  steadyWindow,
} from './gap-budget';

const pass = (startedAt: number, ms: number) => ({ startedAt, ms });

describe('busyMs', () => {
  it('counts time under overlapping passes once', () => {
    assert.equal(busyMs([pass(0, 10), pass(5, 10), pass(30, 5)], { from: 0, to: 100 }), 20);
  });

  it('counts only what lies inside the window', () => {
    assert.equal(busyMs([pass(0, 10), pass(20, 10)], { from: 5, to: 25 }), 10);
  });

  it('counts a pass held inside another one nothing more', () => {
    assert.equal(busyMs([pass(0, 20), pass(5, 2), pass(30, 1)], { from: 0, to: 100 }), 21);
  });
});

describe('gapBudget', () => {
  const passes = [pass(1_000, 100), pass(1_150, 100), pass(1_300, 200)];

  it('cuts the wall time into parts that add up to it', () => {
    const budget = gapBudget({ postedAt: 0, acceptedAt: 900, completedAt: 1_600 }, passes);
    assert.deepEqual(budget, {
      totalMs: 1_600,
      uploadMs: 900,
      toFirstPassMs: 100,
      inPassesMs: 400,
      betweenPassesMs: 100,
      finishMs: 100,
      passes: 3,
    });
  });

  it('ends the upload at the first pass when a worker started before the 202 arrived', () => {
    const budget = gapBudget({ postedAt: 0, acceptedAt: 1_050, completedAt: 1_600 }, passes);
    assert.equal(budget.uploadMs, 1_000);
    assert.equal(budget.toFirstPassMs, 0);
    const parts = budget.uploadMs + budget.inPassesMs + budget.betweenPassesMs + budget.finishMs;
    assert.equal(parts, budget.totalMs);
  });
});

describe('steadyWindow', () => {
  it('leaves out the first and last tenth of the span of the passes', () => {
    const passes = [pass(0, 10), pass(50, 10), pass(90, 10)];
    assert.deepEqual(steadyWindow(passes), { from: 10, to: 90 });
    assert.equal(busyShare(passes, steadyWindow(passes)), 10 / 80);
  });
});

describe('loggedPasses', () => {
  it("reads the passes of the worker's `group scored` lines from a moment on", () => {
    const logs = [
      { msg: 'job done' },
      { msg: 'group scored', passes: [{ startedAt: 5, inferenceMs: 1, size: 2 }] },
      {
        msg: 'group scored',
        passes: [
          { startedAt: 20, inferenceMs: 3, size: 4 },
          { startedAt: 30, inferenceMs: 2, size: 4 },
        ],
      },
    ];
    assert.deepEqual(loggedPasses(logs, 10), [pass(20, 3), pass(30, 2)]);
  });
});

describe('steadyBudget', () => {
  it('splits the middle eight tenths of the pass span into busy and idle time', () => {
    // Span 0-100: the window is 10-90; busy 10-40 and 60-90.
    const steady = steadyBudget([pass(0, 40), pass(60, 40)]);
    assert.deepEqual(steady, { windowMs: 80, inPassesMs: 60, betweenPassesMs: 20 });
  });
});
