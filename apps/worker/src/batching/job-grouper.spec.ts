import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { JobGrouper, type BatcherLimits, type BatchItem } from './job-grouper';

interface Item extends BatchItem {
  name: string;
}

const item = (name: string, size = 1, priority = 0, deadline?: number): Item => ({
  name,
  size,
  priority,
  deadline,
});

/** A batcher whose runs are recorded and finish only when the test releases them. */
function harness(limits: BatcherLimits = { maxGroupTexts: 8, maxDelayMs: 50, gapMs: 2 }) {
  const groups: string[][] = [];
  const releases: (() => void)[] = [];
  const batcher = new JobGrouper<Item>(limits, (group) => {
    groups.push(group.map((i) => i.name));
    return new Promise<void>((resolve) => releases.push(resolve));
  });
  return { batcher, groups, release: () => releases.shift()?.() };
}

describe('JobGrouper', () => {
  it('sends a lone job right after the current turn when idle', async () => {
    const { batcher, groups } = harness();
    batcher.add(item('a'));
    // A turn, not a sleep: on a loaded machine a 10 ms timer can fire before a pending immediate.
    await turn();
    assert.deepEqual(groups, [['a']]);
  });

  it('sends right after the current turn with no gap, taking same-turn companions', async () => {
    const { batcher, groups } = harness({ maxGroupTexts: 8, maxDelayMs: 50, gapMs: 0 });
    batcher.add(item('a'));
    batcher.add(item('b'));
    assert.deepEqual(groups, []);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(groups, [['a', 'b']]);
  });

  it('sends at once with no delay allowed', () => {
    const { batcher, groups } = harness({ maxGroupTexts: 8, maxDelayMs: 0, gapMs: 2 });
    batcher.add(item('a'));
    assert.deepEqual(groups, [['a']]);
  });

  it('lets jobs pile up while a group runs and sends them together when it ends', async () => {
    const { batcher, groups, release } = harness();
    batcher.add(item('a'));
    await sleep(10);
    batcher.add(item('b'));
    batcher.add(item('c'));
    batcher.add(item('d'));
    await sleep(10);
    assert.deepEqual(groups, [['a']]);
    release();
    await sleep(1);
    assert.deepEqual(groups, [['a'], ['b', 'c', 'd']]);
  });

  it('sends a full group without waiting for the gap', () => {
    const { batcher, groups } = harness({ maxGroupTexts: 4, maxDelayMs: 1000, gapMs: 1000 });
    batcher.add(item('a', 2));
    batcher.add(item('b', 2));
    assert.deepEqual(groups, [['a', 'b']]);
  });

  it('keeps groups within the text limit, except a single larger job', async () => {
    const { batcher, groups, release } = harness({ maxGroupTexts: 4, maxDelayMs: 5, gapMs: 1 });
    batcher.add(item('busy'));
    batcher.flush();
    batcher.add(item('big', 9));
    batcher.add(item('x', 3));
    batcher.add(item('y', 1));
    release();
    await sleep(1);
    release();
    await sleep(1);
    assert.deepEqual(groups, [['busy'], ['big'], ['x', 'y']]);
  });

  it('caps a group of bulk jobs at the bulk limit, so online jobs wait behind little', async () => {
    const limits = { maxGroupTexts: 100, maxDelayMs: 5, gapMs: 1, maxBulkGroupTexts: 8 };
    const { batcher, groups, release } = harness(limits);
    batcher.add(item('first'));
    batcher.flush();
    ['b1', 'b2', 'b3'].forEach((name) => batcher.add(item(name, 4, 10)));
    release();
    await sleep(1);
    assert.deepEqual(groups[1], ['b1', 'b2']);
  });

  it('sends online jobs (lower priority number) before bulk ones that arrived earlier', async () => {
    const { batcher, groups, release } = harness({ maxGroupTexts: 2, maxDelayMs: 5, gapMs: 1 });
    batcher.add(item('first'));
    batcher.flush();
    batcher.add(item('bulk-1', 1, 10));
    batcher.add(item('bulk-2', 1, 10));
    batcher.add(item('online', 1, 0));
    release();
    await sleep(1);
    assert.deepEqual(groups[1], ['online'], 'no bulk job rides along with an online one');
    release();
    await sleep(1);
    assert.deepEqual(groups[2], ['bulk-1', 'bulk-2']);
  });

  it('sends an online job while a bulk group runs, and no second bulk group', async () => {
    const { batcher, groups, release } = harness({ maxGroupTexts: 8, maxDelayMs: 5, gapMs: 0 });
    batcher.add(item('bulk-1', 4, 10));
    await turn();
    batcher.add(item('bulk-2', 4, 10));
    await turn();
    assert.deepEqual(groups, [['bulk-1']], 'a bulk group waits for the one in flight');
    batcher.add(item('online'));
    await turn();
    assert.deepEqual(groups, [['bulk-1'], ['online']], 'the online job overtakes the bulk group');
    batcher.add(item('online-2'));
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
    const { batcher, groups } = harness({ maxGroupTexts: 100, maxDelayMs: 1000, gapMs: 1000 });
    batcher.add(item('a'));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(groups, [['a']]);
  });

  it('after a group of several jobs, waits for as many companions before sending', async () => {
    const { batcher, groups, release } = harness({
      maxGroupTexts: 100,
      maxDelayMs: 5000,
      gapMs: 2000,
    });
    // A busy spell teaches the batcher that three callers come back together.
    batcher.add(item('warm'));
    await turn();
    ['a', 'b', 'c'].forEach((name) => batcher.add(item(name)));
    release();
    await turn();
    assert.deepEqual(groups, [['warm'], ['a', 'b', 'c']]);
    release();
    await turn();
    batcher.add(item('x'));
    batcher.add(item('y'));
    await turn();
    assert.equal(groups.length, 2, 'x and y wait for a third companion');
    batcher.add(item('z'));
    await turn();
    assert.deepEqual(groups[2], ['x', 'y', 'z']);
  });

  it('never waits past the delay while companions keep trickling in', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let now = 0;
    const groups: string[][] = [];
    const releases: (() => void)[] = [];
    const batcher = new JobGrouper<Item>(
      { maxGroupTexts: 100, maxDelayMs: 30, gapMs: 10 },
      (group) => {
        groups.push(group.map((i) => i.name));
        return new Promise<void>((resolve) => releases.push(resolve));
      },
      () => now,
    );
    batcher.add(item('warm'));
    await turn();
    for (let i = 0; i < 20; i++) batcher.add(item(`w${i}`));
    releases.shift()!();
    await turn();
    releases.shift()!();
    await turn();
    // Twenty callers are expected; they trickle in 4 ms apart, never leaving a 10 ms gap.
    for (let i = 0; i < 10; i++) {
      batcher.add(item(`j${i}`));
      now += 4;
      t.mock.timers.tick(4);
    }
    // The 30 ms bound sends j0..j7.
    assert.deepEqual(groups[2], ['j0', 'j1', 'j2', 'j3', 'j4', 'j5', 'j6', 'j7']);
  });

  it('fills a group earliest deadline first, no deadline last, arrival order otherwise', async () => {
    const { batcher, groups, release } = harness({ maxGroupTexts: 100, maxDelayMs: 5, gapMs: 1 });
    batcher.add(item('first'));
    batcher.flush();
    const far = performance.now() + 60_000;
    batcher.add(item('none-1'));
    batcher.add(item('late', 1, 0, far + 1000));
    batcher.add(item('none-2'));
    batcher.add(item('soon', 1, 0, far));
    batcher.add(item('late-too', 1, 0, far + 1000));
    release();
    await turn();
    assert.deepEqual(groups[1], ['soon', 'late', 'late-too', 'none-1', 'none-2']);
  });

  it('control: without deadlines a group keeps arrival order', async () => {
    const { batcher, groups, release } = harness({ maxGroupTexts: 100, maxDelayMs: 5, gapMs: 1 });
    batcher.add(item('first'));
    batcher.flush();
    ['none-1', 'late', 'none-2', 'soon'].forEach((name) => batcher.add(item(name)));
    release();
    await turn();
    assert.deepEqual(groups[1], ['none-1', 'late', 'none-2', 'soon']);
  });

  it('puts priority before deadline: an online job without one goes before an urgent bulk job', async () => {
    const { batcher, groups, release } = harness({ maxGroupTexts: 1, maxDelayMs: 5, gapMs: 1 });
    batcher.add(item('first'));
    batcher.flush();
    batcher.add(item('bulk-urgent', 1, 10, performance.now() + 60_000));
    batcher.add(item('online'));
    release();
    await turn();
    assert.deepEqual(groups[1], ['online']);
  });

  it('drops a job whose deadline passed while it waited, without a slot in any group', async () => {
    let now = 0;
    const groups: string[][] = [];
    const expired: string[] = [];
    const releases: (() => void)[] = [];
    const batcher = new JobGrouper<Item>(
      { maxGroupTexts: 100, maxDelayMs: 5, gapMs: 1 },
      (group) => {
        groups.push(group.map((i) => i.name));
        return new Promise<void>((resolve) => releases.push(resolve));
      },
      () => now,
      (items) => expired.push(...items.map((i) => i.name)),
    );
    batcher.add(item('first'));
    batcher.flush();
    batcher.add(item('in-time', 1, 0, 100));
    batcher.add(item('too-late', 1, 0, 10));
    batcher.add(item('no-deadline'));
    now = 50;
    releases.shift()!();
    await turn();
    assert.deepEqual(expired, ['too-late']);
    assert.deepEqual(groups[1], ['in-time', 'no-deadline']);
  });

  it('control: a job whose deadline has not passed is sent', async () => {
    let now = 0;
    const groups: string[][] = [];
    const expired: string[] = [];
    const batcher = new JobGrouper<Item>(
      { maxGroupTexts: 100, maxDelayMs: 0, gapMs: 1 },
      (group) => (groups.push(group.map((i) => i.name)), Promise.resolve()),
      () => now,
      (items) => expired.push(...items.map((i) => i.name)),
    );
    now = 9;
    batcher.add(item('just-in-time', 1, 0, 10));
    assert.deepEqual(groups, [['just-in-time']]);
    assert.deepEqual(expired, []);
  });

  it('drops the jobs not yet sent on clear, and sends nothing of them later', async () => {
    const { batcher, groups, release } = harness({ maxGroupTexts: 8, maxDelayMs: 50, gapMs: 0 });
    batcher.add(item('running'));
    await turn();
    batcher.add(item('a'));
    batcher.add(item('b'));
    assert.deepEqual(
      batcher.clear().map((i) => i.name),
      ['a', 'b'],
    );
    release();
    await turn();
    batcher.add(item('c'));
    await turn();
    assert.deepEqual(groups, [['running'], ['c']]);
  });
});

/** Lets pending immediates and promise callbacks run. */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
