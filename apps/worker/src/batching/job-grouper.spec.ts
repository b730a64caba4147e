import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { harness, item, turn } from './job-grouper.harness';

describe('JobGrouper', () => {
  it('sends a lone job right after the current turn when idle', async () => {
    const { grouper, groups } = harness();
    grouper.add(item('a'));
    // A turn, not a sleep: on a loaded machine a 10 ms timer can fire before a pending immediate.
    await turn();
    assert.deepEqual(groups, [['a']]);
  });

  it('sends right after the current turn with no gap, taking same-turn companions', async () => {
    const { grouper, groups } = harness({ maxGroupTexts: 8, maxDelayMs: 50, gapMs: 0 });
    grouper.add(item('a'));
    grouper.add(item('b'));
    assert.deepEqual(groups, []);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(groups, [['a', 'b']]);
  });

  it('sends at once with no delay allowed', () => {
    const { grouper, groups } = harness({ maxGroupTexts: 8, maxDelayMs: 0, gapMs: 2 });
    grouper.add(item('a'));
    assert.deepEqual(groups, [['a']]);
  });

  it('lets jobs pile up while a group runs and sends them together when it ends', async () => {
    const { grouper, groups, release } = harness();
    grouper.add(item('a'));
    // Turns of the event loop, never a time: a sleep started in the check phase can end before
    // the grouper's setImmediate on a loaded machine (and then b, c, d joined a's group), and a
    // 1 ms timer after a release may fire before or after the group it waits for.
    await turn();
    assert.deepEqual(groups, [['a']]);
    grouper.add(item('b'));
    grouper.add(item('c'));
    grouper.add(item('d'));
    await turn();
    await turn();
    assert.deepEqual(groups, [['a']], 'nothing goes while a group runs');
    release();
    await turn();
    assert.deepEqual(groups, [['a'], ['b', 'c', 'd']]);
  });

  it('sends a full group without waiting for the gap', () => {
    const { grouper, groups } = harness({ maxGroupTexts: 4, maxDelayMs: 1000, gapMs: 1000 });
    grouper.add(item('a', 2));
    grouper.add(item('b', 2));
    assert.deepEqual(groups, [['a', 'b']]);
  });

  it('keeps groups within the text limit, except a single larger job', async () => {
    const { grouper, groups, release } = harness({ maxGroupTexts: 4, maxDelayMs: 5, gapMs: 1 });
    grouper.add(item('busy'));
    grouper.flush();
    grouper.add(item('big', 9));
    grouper.add(item('x', 3));
    grouper.add(item('y', 1));
    release();
    await turn();
    release();
    await turn();
    assert.deepEqual(groups, [['busy'], ['big'], ['x', 'y']]);
  });

  it('caps a group of bulk jobs at the bulk limit, so online jobs wait behind little', async () => {
    const limits = { maxGroupTexts: 100, maxDelayMs: 5, gapMs: 1, maxBulkGroupTexts: 8 };
    const { grouper, groups, release } = harness(limits);
    grouper.add(item('first'));
    grouper.flush();
    ['b1', 'b2', 'b3'].forEach((name) => grouper.add(item(name, 4, 10)));
    release();
    await turn();
    assert.deepEqual(groups[1], ['b1', 'b2']);
  });

  it('sends online jobs (lower priority number) before bulk ones that arrived earlier', async () => {
    const { grouper, groups, release } = harness({ maxGroupTexts: 2, maxDelayMs: 5, gapMs: 1 });
    grouper.add(item('first'));
    grouper.flush();
    grouper.add(item('bulk-1', 1, 10));
    grouper.add(item('bulk-2', 1, 10));
    grouper.add(item('online', 1, 0));
    release();
    await turn();
    assert.deepEqual(groups[1], ['online'], 'no bulk job rides along with an online one');
    release();
    await turn();
    assert.deepEqual(groups[2], ['bulk-1', 'bulk-2']);
  });

  it('sends an online job while a bulk group runs, and no second bulk group', async () => {
    const { grouper, groups, release } = harness({ maxGroupTexts: 8, maxDelayMs: 5, gapMs: 0 });
    grouper.add(item('bulk-1', 4, 10));
    await turn();
    grouper.add(item('bulk-2', 4, 10));
    await turn();
    assert.deepEqual(groups, [['bulk-1']], 'a bulk group waits for the one in flight');
    grouper.add(item('online'));
    await turn();
    assert.deepEqual(groups, [['bulk-1'], ['online']], 'the online job overtakes the bulk group');
    grouper.add(item('online-2'));
    await turn();
    assert.equal(groups.length, 2, 'one online group in flight at a time');
    release(); // bulk-1
    await turn();
    assert.equal(groups.length, 2, 'nothing goes beside the online group in flight');
    release(); // online
    await turn();
    assert.deepEqual(groups[2], ['online-2']);
  });

  it('sends a lone caller right after the current turn, without waiting for the gap', async () => {
    const { grouper, groups } = harness({ maxGroupTexts: 100, maxDelayMs: 1000, gapMs: 1000 });
    grouper.add(item('a'));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(groups, [['a']]);
  });

  it('after a group of several jobs, waits for as many companions before sending', async () => {
    const { grouper, groups, release } = harness({
      maxGroupTexts: 100,
      maxDelayMs: 5000,
      gapMs: 2000,
    });
    // A busy spell teaches the grouper that three callers come back together.
    grouper.add(item('warm'));
    await turn();
    ['a', 'b', 'c'].forEach((name) => grouper.add(item(name)));
    release();
    await turn();
    assert.deepEqual(groups, [['warm'], ['a', 'b', 'c']]);
    release();
    await turn();
    grouper.add(item('x'));
    grouper.add(item('y'));
    await turn();
    assert.equal(groups.length, 2, 'x and y wait for a third companion');
    grouper.add(item('z'));
    await turn();
    assert.deepEqual(groups[2], ['x', 'y', 'z']);
  });

  it('never waits past the delay while companions keep trickling in', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let now = 0;
    const limits = { maxGroupTexts: 100, maxDelayMs: 30, gapMs: 10 };
    const { grouper, groups, release } = harness(limits, () => now);
    grouper.add(item('warm'));
    await turn();
    for (let i = 0; i < 20; i++) grouper.add(item(`w${i}`));
    release();
    await turn();
    release();
    await turn();
    // Twenty callers are expected; they trickle in 4 ms apart, never leaving a 10 ms gap.
    for (let i = 0; i < 10; i++) {
      grouper.add(item(`j${i}`));
      now += 4;
      t.mock.timers.tick(4);
    }
    // The 30 ms bound sends j0..j7.
    assert.deepEqual(groups[2], ['j0', 'j1', 'j2', 'j3', 'j4', 'j5', 'j6', 'j7']);
  });

  it('fills a group earliest deadline first, no deadline last, arrival order otherwise', async () => {
    const { grouper, groups, release } = harness({ maxGroupTexts: 100, maxDelayMs: 5, gapMs: 1 });
    grouper.add(item('first'));
    grouper.flush();
    const far = performance.now() + 60_000;
    grouper.add(item('none-1'));
    grouper.add(item('late', 1, 0, far + 1000));
    grouper.add(item('none-2'));
    grouper.add(item('soon', 1, 0, far));
    grouper.add(item('late-too', 1, 0, far + 1000));
    release();
    await turn();
    assert.deepEqual(groups[1], ['soon', 'late', 'late-too', 'none-1', 'none-2']);
  });

  it('control: without deadlines a group keeps arrival order', async () => {
    const { grouper, groups, release } = harness({ maxGroupTexts: 100, maxDelayMs: 5, gapMs: 1 });
    grouper.add(item('first'));
    grouper.flush();
    ['none-1', 'late', 'none-2', 'soon'].forEach((name) => grouper.add(item(name)));
    release();
    await turn();
    assert.deepEqual(groups[1], ['none-1', 'late', 'none-2', 'soon']);
  });

  it('puts priority before deadline: an online job without one goes before an urgent bulk job', async () => {
    const { grouper, groups, release } = harness({ maxGroupTexts: 1, maxDelayMs: 5, gapMs: 1 });
    grouper.add(item('first'));
    grouper.flush();
    grouper.add(item('bulk-urgent', 1, 10, performance.now() + 60_000));
    grouper.add(item('online'));
    release();
    await turn();
    assert.deepEqual(groups[1], ['online']);
  });

  it('drops a job whose deadline passed while it waited, without a slot in any group', async () => {
    let now = 0;
    const limits = { maxGroupTexts: 100, maxDelayMs: 5, gapMs: 1 };
    const { grouper, groups, expired, release } = harness(limits, () => now);
    grouper.add(item('first'));
    grouper.flush();
    grouper.add(item('in-time', 1, 0, 100));
    grouper.add(item('too-late', 1, 0, 10));
    grouper.add(item('no-deadline'));
    now = 50;
    release();
    await turn();
    assert.deepEqual(expired, ['too-late']);
    assert.deepEqual(groups[1], ['in-time', 'no-deadline']);
  });

  it('control: a job whose deadline has not passed is sent', () => {
    let now = 0;
    const { grouper, groups, expired } = harness(
      { maxGroupTexts: 100, maxDelayMs: 0, gapMs: 1 },
      () => now,
    );
    now = 9;
    grouper.add(item('just-in-time', 1, 0, 10));
    assert.deepEqual(groups, [['just-in-time']]);
    assert.deepEqual(expired, []);
  });

  it('drops the jobs not yet sent on clear, and sends nothing of them later', async () => {
    const { grouper, groups, release } = harness({ maxGroupTexts: 8, maxDelayMs: 50, gapMs: 0 });
    grouper.add(item('running'));
    await turn();
    grouper.add(item('a'));
    grouper.add(item('b'));
    assert.deepEqual(
      grouper.clear().map((i) => i.name),
      ['a', 'b'],
    );
    release();
    await turn();
    grouper.add(item('c'));
    await turn();
    assert.deepEqual(groups, [['running'], ['c']]);
  });
});
