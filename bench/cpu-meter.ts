import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/** The fields of a `/proc/<pid>/stat` (or `task/<tid>/stat`) line that the meter reads. */
export interface StatFields {
  comm: string;
  /** utime + stime, in clock ticks. */
  ticks: number;
}

/**
 * Parses a stat line. The name (field 2) is in parentheses and may itself hold spaces and
 * parentheses, so the numeric fields are counted from the last `)`.
 */
export function parseStat(line: string): StatFields {
  const open = line.indexOf('(');
  const close = line.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`not a /proc stat line: ${line.slice(0, 80)}`);
  // After the name: field 3 (state) is index 0, so field n is index n - 3.
  const fields = line
    .slice(close + 2)
    .trim()
    .split(' ');
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime))
    throw new Error(`no utime/stime in /proc stat line: ${line.slice(0, 80)}`);
  return { comm: line.slice(open + 1, close), ticks: utime + stime };
}

/** One thread's CPU time so far. */
export interface ThreadCpu {
  tid: number;
  /** The thread's name, as `/proc/<pid>/task/<tid>/comm` says it. */
  name: string;
  ticks: number;
}

/** A process's CPU time so far: all of it (exited threads included) and per live thread. */
export interface ProcessCpu {
  pid: number;
  ticks: number;
  threads: ThreadCpu[];
}

/**
 * Reads a process's CPU time from `/proc`; a thread that ends while it reads is left out. The
 * threads are read before the process total, so the total is never below what they had (read
 * first, it missed the time a running thread spent between the two reads).
 */
export function readProcessCpu(pid: number): ProcessCpu {
  const threads: ThreadCpu[] = [];
  for (const entry of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = parseStat(readFileSync(`/proc/${pid}/task/${entry}/stat`, 'utf8'));
      const name = readFileSync(`/proc/${pid}/task/${entry}/comm`, 'utf8').trimEnd();
      threads.push({ tid: Number(entry), name, ticks: stat.ticks });
    } catch {
      // The thread exited between the listing and the read; the process total still has it.
    }
  }
  const { ticks } = parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  return { pid, ticks, threads };
}

let clockTicksPerSecond: number | undefined;

/** Milliseconds in `ticks` clock ticks (`getconf CLK_TCK`, 100 on every Linux we know). */
export function ticksToMs(ticks: number): number {
  if (clockTicksPerSecond === undefined) {
    try {
      clockTicksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
    } catch {
      clockTicksPerSecond = 100;
    }
    if (!(clockTicksPerSecond > 0)) clockTicksPerSecond = 100;
  }
  return (ticks * 1000) / clockTicksPerSecond;
}

/** CPU milliseconds a process (or some of its threads) spent between two readings. */
export class CpuDelta {
  constructor(
    readonly before: ProcessCpu,
    readonly after: ProcessCpu,
  ) {}

  /** The whole process, threads that ended in between included. */
  get processMs(): number {
    return ticksToMs(this.after.ticks - this.before.ticks);
  }

  /** The threads `tids` (a thread born in between counts from zero). */
  threadsMs(tids: Iterable<number>): number {
    const wanted = new Set(tids);
    const earlier = new Map(this.before.threads.map((t) => [t.tid, t.ticks]));
    let ticks = 0;
    for (const thread of this.after.threads)
      if (wanted.has(thread.tid)) ticks += thread.ticks - (earlier.get(thread.tid) ?? 0);
    return ticksToMs(ticks);
  }
}

/** The CPU-time readings of `/proc/<pid>` at `read()`, for each pid named. */
export class CpuMeter<Name extends string> {
  constructor(private readonly pids: Record<Name, number>) {}

  read(): Record<Name, ProcessCpu> {
    const names = Object.keys(this.pids) as Name[];
    return Object.fromEntries(
      names.map((name) => [name, readProcessCpu(this.pids[name])]),
    ) as Record<Name, ProcessCpu>;
  }

  /** What each process spent between two readings. */
  static between<N extends string>(
    before: Record<N, ProcessCpu>,
    after: Record<N, ProcessCpu>,
  ): Record<N, CpuDelta> {
    const names = Object.keys(after) as N[];
    return Object.fromEntries(
      names.map((name) => [name, new CpuDelta(before[name], after[name])]),
    ) as Record<N, CpuDelta>;
  }
}
