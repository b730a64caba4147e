import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { TokenBatcher, type BatchItem } from './token-batcher';

interface Item extends BatchItem {
  name: string;
}

const item = (name: string, size = 1, priority = 0): Item => ({ name, size, priority });

/** A batcher whose runs are recorded and finish only when the test releases them. */
function harness(limits = { maxGroupTexts: 8, maxDelayMs: 50, gapMs: 2 }) {
  const groups: string[][] = [];
  const releases: (() => void)[] = [];
  const batcher = new TokenBatcher<Item>(limits, (group) => {
    groups.push(group.map((i) => i.name));
    return new Promise<void>((resolve) => releases.push(resolve));
  });
  return { batcher, groups, release: () => releases.shift()?.() };
}

describe('TokenBatcher', () => {
  it('sends a lone job soon after it arrives when idle', async () => {
    const { batcher, groups } = harness();
    batcher.add(item('a'));
    await sleep(10);
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

  it('sends online jobs (lower priority number) before bulk ones that arrived earlier', async () => {
    const { batcher, groups, release } = harness({ maxGroupTexts: 2, maxDelayMs: 5, gapMs: 1 });
    batcher.add(item('first'));
    batcher.flush();
    batcher.add(item('bulk-1', 1, 10));
    batcher.add(item('bulk-2', 1, 10));
    batcher.add(item('online', 1, 0));
    release();
    await sleep(1);
    assert.deepEqual(groups[1], ['online', 'bulk-1']);
  });

  it('waits for companions during a burst but never past the delay', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let now = 0;
    const groups: string[][] = [];
    const batcher = new TokenBatcher<Item>(
      { maxGroupTexts: 100, maxDelayMs: 30, gapMs: 10 },
      (group) => {
        groups.push(group.map((i) => i.name));
        return new Promise<void>(() => undefined);
      },
      () => now,
    );
    for (let i = 0; i < 10; i++) {
      batcher.add(item(`j${i}`));
      now += 4;
      t.mock.timers.tick(4);
    }
    // Arrivals 4 ms apart never leave a 10 ms gap; the 30 ms bound sends j0..j7.
    assert.deepEqual(groups, [['j0', 'j1', 'j2', 'j3', 'j4', 'j5', 'j6', 'j7']]);
  });
});
