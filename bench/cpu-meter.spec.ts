import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CpuDelta, parseStat, readProcessCpu, ticksToMs, type ProcessCpu } from './cpu-meter';

/** A stat line as Linux writes it, utime 250 and stime 37 ticks. */
const statLine = (comm: string) =>
  `4242 (${comm}) S 1 4242 4242 0 -1 4194560 1893 0 0 0 250 37 0 0 20 0 11 0 12345 1146880 9000 18446744073709551615\n`;

describe('parseStat', () => {
  it('reads the name and utime + stime of a plain line', () => {
    assert.deepEqual(parseStat(statLine('node')), { comm: 'node', ticks: 287 });
  });

  it('counts the fields from the last parenthesis: a name may hold spaces and parentheses', () => {
    assert.deepEqual(parseStat(statLine('we (ird) 1) S 2 3')), {
      comm: 'we (ird) 1) S 2 3',
      ticks: 287,
    });
  });

  it('refuses a line that is not a stat line', () => {
    assert.throws(() => parseStat('4242 node S 1'), /not a \/proc stat line/);
    assert.throws(() => parseStat('4242 (node) S 1 2'), /no utime\/stime/);
  });

  it('reads this process and its main thread from /proc', () => {
    const cpu = readProcessCpu(process.pid);
    const main = cpu.threads.find((t) => t.tid === process.pid);
    assert.equal(main?.name, readFileSync('/proc/self/comm', 'utf8').trimEnd());
    // Read after the threads, the total has all of the main thread's time, but Linux rounds a
    // process's utime and stime down to ticks each on its own, and a thread's too: the total may
    // show one tick less than a thread that had nearly all of the process's time, never two.
    assert.ok(cpu.ticks >= main.ticks - 1, `total ${cpu.ticks}, main thread ${main.ticks}`);
  });
});

describe('CpuDelta', () => {
  const reading = (ticks: number, threads: [number, number][]): ProcessCpu => ({
    pid: 1,
    ticks,
    threads: threads.map(([tid, t]) => ({ tid, name: 'node', ticks: t })),
  });
  // Thread 3 started between the readings, thread 2 ended (the process total still has it).
  const delta = new CpuDelta(
    reading(100, [
      [1, 60],
      [2, 40],
    ]),
    reading(190, [
      [1, 90],
      [3, 25],
    ]),
  );

  it('takes the whole process from its own total', () => {
    assert.equal(delta.processMs, ticksToMs(90));
  });

  it('sums the threads asked for, one started in between from zero', () => {
    assert.equal(delta.threadsMs([1]), ticksToMs(30));
    assert.equal(delta.threadsMs([1, 3]), ticksToMs(55));
    assert.equal(delta.threadsMs([2]), 0);
  });
});
