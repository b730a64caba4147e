import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  desiredWorkers,
  intraOpThreadsPerWorker,
  type ScalingPolicy,
  type VersionLoad,
} from './scaling';

const policy: ScalingPolicy = {
  upBacklogPerWorker: 10,
  upWaitMs: 1000,
  downIdleMs: 5000,
  cooldownMs: 3000,
};
const load = (over: Partial<VersionLoad>): VersionLoad => ({
  current: 1,
  minWorkers: 1,
  maxWorkers: 3,
  backlog: 0,
  oldestWaitMs: 0,
  active: 0,
  lastChangeAt: 0,
  now: 100_000,
  ...over,
});

describe('desiredWorkers', () => {
  it('brings the count into [min, max] at once, cooldown or not', () => {
    assert.equal(desiredWorkers(load({ current: 0, lastChangeAt: 99_999 }), policy), 1);
    assert.equal(desiredWorkers(load({ current: 5, lastChangeAt: 99_999 }), policy), 3);
  });

  it('adds one worker under backlog or when the oldest job waits too long', () => {
    assert.equal(desiredWorkers(load({ backlog: 11 }), policy), 2);
    assert.equal(desiredWorkers(load({ oldestWaitMs: 1500 }), policy), 2);
    assert.equal(desiredWorkers(load({ current: 2, backlog: 15 }), policy), 2);
  });

  it('never goes above max', () => {
    assert.equal(desiredWorkers(load({ current: 3, backlog: 1000 }), policy), 3);
  });

  it('waits out the cooldown before changing again', () => {
    assert.equal(desiredWorkers(load({ backlog: 100, lastChangeAt: 98_000 }), policy), 1);
  });

  it('removes one worker after a quiet spell, not before, and never below min', () => {
    assert.equal(desiredWorkers(load({ current: 2, idleSince: 96_000 }), policy), 2);
    assert.equal(desiredWorkers(load({ current: 2, idleSince: 94_000 }), policy), 1);
    assert.equal(desiredWorkers(load({ current: 1, idleSince: 0 }), policy), 1);
    assert.equal(desiredWorkers(load({ current: 2, idleSince: 0, active: 1 }), policy), 2);
  });
});

describe('intraOpThreadsPerWorker', () => {
  it('shares the cores among the workers a version may run, at least one thread each', () => {
    assert.equal(intraOpThreadsPerWorker(12, 3), 4);
    assert.equal(intraOpThreadsPerWorker(16, 3), 5);
    assert.equal(intraOpThreadsPerWorker(2, 4), 1);
  });

  it("leaves a version of one worker to ORT's own choice", () => {
    assert.equal(intraOpThreadsPerWorker(16, 1), undefined);
  });
});
