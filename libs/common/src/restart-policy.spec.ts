import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RestartTracker, type RestartPolicy } from './restart-policy';

const policy: RestartPolicy = {
  backoffMs: 100,
  maxBackoffMs: 1000,
  maxStartFailures: 3,
  stableMs: 10_000,
};
const crash = { started: true, ranMs: 50 };
const failedStart = { started: false, ranMs: 50 };

describe('RestartTracker', () => {
  it('doubles the delay over crashes in a row, up to the cap', () => {
    const tracker = new RestartTracker(policy);
    const delays = Array.from({ length: 6 }, () => tracker.onExit(crash));
    assert.deepEqual(
      delays.map((d) => (d.restart ? d.delayMs : 'give up')),
      [100, 200, 400, 800, 1000, 1000],
    );
  });

  it('starts from the first delay again after the child ran for a stable spell', () => {
    const tracker = new RestartTracker(policy);
    tracker.onExit(crash);
    tracker.onExit(crash);
    assert.deepEqual(tracker.onExit({ started: true, ranMs: 10_000 }), {
      restart: true,
      delayMs: 100,
    });
  });

  it('gives up after the set number of start failures in a row', () => {
    const tracker = new RestartTracker(policy);
    assert.equal(tracker.onExit(failedStart).restart, true);
    assert.equal(tracker.onExit(failedStart).restart, true);
    assert.deepEqual(tracker.onExit(failedStart), { restart: false });
  });

  it('never gives up on a child that keeps starting, however often it crashes (control)', () => {
    const tracker = new RestartTracker(policy);
    for (let i = 0; i < 21; i++) {
      assert.equal(tracker.onExit(i % 3 === 2 ? crash : failedStart).restart, true);
    }
    assert.equal(tracker.failedStarts, 0);
  });
});
