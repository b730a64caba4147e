import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expiryOf, resultKeeping, sweepIntervalMs } from './result-keeping';

describe('resultKeeping', () => {
  it('gives every job the longer TTL, and sweeps sync jobs after theirs (the defaults)', () => {
    const keeping = resultKeeping({ RESULT_TTL_S: 86_400, SYNC_RESULT_TTL_S: 600 });
    assert.deepEqual(keeping, { queueAgeS: 86_400, short: { kind: 'sync', keepS: 600 } });
    assert.equal(expiryOf(keeping, 'sync'), 600);
    assert.equal(expiryOf(keeping, 'async'), undefined);
  });

  it('sweeps async jobs instead when theirs is the shorter TTL', () => {
    const keeping = resultKeeping({ RESULT_TTL_S: 60, SYNC_RESULT_TTL_S: 3600 });
    assert.deepEqual(keeping, { queueAgeS: 3600, short: { kind: 'async', keepS: 60 } });
    assert.equal(expiryOf(keeping, 'sync'), undefined);
    assert.equal(expiryOf(keeping, 'async'), 60);
  });

  it('sweeps nothing when both TTLs agree: the queue age alone keeps them', () => {
    const keeping = resultKeeping({ RESULT_TTL_S: 900, SYNC_RESULT_TTL_S: 900 });
    assert.deepEqual(keeping, { queueAgeS: 900 });
    assert.equal(expiryOf(keeping, 'sync'), undefined);
    assert.equal(expiryOf(keeping, 'async'), undefined);
  });
});

describe('sweepIntervalMs', () => {
  it('is a tenth of the TTL, within 1 s and 60 s', () => {
    assert.equal(sweepIntervalMs(1), 1000);
    assert.equal(sweepIntervalMs(30), 3000);
    assert.equal(sweepIntervalMs(600), 60_000);
    assert.equal(sweepIntervalMs(86_400), 60_000);
  });
});
