// The specs' harness for JobGrouper (job-grouper.spec.ts, job-grouper-bulk.spec.ts): no clock,
// no timers of its own; a test moves on by turns of the event loop and by releasing groups.
import { JobGrouper, type GroupItem, type GroupLimits } from './job-grouper';

/** A job of the specs, known by its name. */
export interface Item extends GroupItem {
  name: string;
}

/** A job named `name` of `size` texts. */
export const item = (name: string, size = 1, priority = 0, deadline?: number): Item => ({
  name,
  size,
  priority,
  deadline,
});

/**
 * A grouper whose runs are recorded and finish only when the test releases them, in order.
 * `now` is its clock (default the real one); the names of the jobs it drops as expired are kept.
 */
export function harness(
  limits: GroupLimits = { maxGroupTexts: 8, maxDelayMs: 50, gapMs: 2 },
  now?: () => number,
) {
  const groups: string[][] = [];
  const expired: string[] = [];
  const releases: (() => void)[] = [];
  const grouper = new JobGrouper<Item>(
    limits,
    (group) => {
      groups.push(group.map((i) => i.name));
      return new Promise<void>((resolve) => releases.push(resolve));
    },
    now,
    (items) => expired.push(...items.map((i) => i.name)),
  );
  return { grouper, groups, expired, release: () => releases.shift()?.() };
}

/** Lets pending immediates and promise callbacks run. */
export function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
