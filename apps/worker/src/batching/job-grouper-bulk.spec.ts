import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { harness, item, turn } from './job-grouper.harness';

describe('JobGrouper: bulk groups in flight', () => {
  it('keeps up to maxBulkInFlight bulk groups in flight, and online jobs still go first', async () => {
    const limits = { maxGroupTexts: 8, maxDelayMs: 5, gapMs: 0, maxBulkGroupTexts: 4 };
    const { grouper, groups, release } = harness({ ...limits, maxBulkInFlight: 2 });
    ['b1', 'b2', 'b3'].forEach((name) => grouper.add(item(name, 4, 10)));
    await turn();
    assert.deepEqual(groups, [['b1'], ['b2']], 'two bulk groups go at once, the third waits');
    grouper.add(item('online'));
    await turn();
    assert.deepEqual(groups[2], ['online'], 'an online job goes beside the bulk groups');
    release(); // b1
    await turn();
    assert.equal(groups.length, 3, 'nothing goes beside the online group in flight');
    release(); // b2
    release(); // online
    await turn();
    assert.deepEqual(groups[3], ['b3']);
  });

  it('control: with the default bound, a second bulk group waits for the first', async () => {
    const limits = { maxGroupTexts: 8, maxDelayMs: 5, gapMs: 0, maxBulkGroupTexts: 4 };
    const { grouper, groups } = harness(limits);
    ['b1', 'b2'].forEach((name) => grouper.add(item(name, 4, 10)));
    await turn();
    assert.deepEqual(groups, [['b1']]);
  });
});
