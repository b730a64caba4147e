import { CpuMeter, type ProcessCpu } from './cpu-meter';
import { fmt } from './data';
import type { BenchProcesses } from './stack';

/** Readings of the stack's processes (`worker0`, `worker1`, ...) and of the load generator. */
export type StackReading = Record<string, ProcessCpu>;

const workerKey = (index: number) => `worker${index}`;

/** CPU milliseconds one load cost, per part of the stack. */
export interface StackCpu {
  api: number;
  redis: number;
  workerMain: number;
  inferenceThread: number;
  /** Threads the worker started after its inference thread: ORT's intra-op pool, the tokenizer's. */
  inferencePools: number;
  /** Threads Node started in the worker before its inference thread: V8 platform, libuv pool. */
  nodeThreads: number;
  /** The three processes, threads that ended meanwhile included. */
  total: number;
  client: number;
}

/** Reads the CPU time so far of the stack's processes and of this one. */
export function stackMeter(processes: BenchProcesses): CpuMeter<string> {
  const { api, redis, workers } = processes;
  const pids: Record<string, number> = { api, redis, client: process.pid };
  (processes.apiChildren ?? []).forEach((pid, index) => (pids[`api${index + 1}`] = pid));
  workers.forEach((worker, index) => (pids[workerKey(index)] = worker.pid));
  return new CpuMeter(pids);
}

/**
 * What the stack spent between two readings, with the workers' threads grouped by role (summed
 * over the workers).
 */
export function stackCpu(
  before: StackReading,
  after: StackReading,
  processes: BenchProcesses,
): StackCpu {
  const spent = CpuMeter.between(before, after);
  const apiMs = Object.entries(spent)
    .filter(([name]) => /^api\d*$/.test(name))
    .reduce((sum, [, process]) => sum + process.processMs, 0);
  const cpu: StackCpu = {
    api: apiMs,
    redis: spent.redis.processMs,
    workerMain: 0,
    inferenceThread: 0,
    inferencePools: 0,
    nodeThreads: 0,
    total: apiMs + spent.redis.processMs,
    client: spent.client.processMs,
  };
  processes.workers.forEach((threads, index) => {
    const worker = spent[workerKey(index)];
    const known = new Set([threads.pid, ...threads.inferenceThreads, ...threads.nodeThreads]);
    cpu.workerMain += worker.threadsMs([threads.pid]);
    cpu.inferenceThread += worker.threadsMs(threads.inferenceThreads);
    cpu.inferencePools += worker.threadsMs(
      worker.after.threads.map((t) => t.tid).filter((tid) => !known.has(tid)),
    );
    cpu.nodeThreads += worker.threadsMs(threads.nodeThreads);
    cpu.total += worker.processMs;
  });
  return cpu;
}

const plumbing = (c: StackCpu) => c.api + c.redis + c.workerMain;

const ROWS: [string, (c: StackCpu) => number][] = [
  ['API (whole process)', (c) => c.api],
  ['Redis (whole process)', (c) => c.redis],
  ['worker main thread (BullMQ, batcher, heartbeats)', (c) => c.workerMain],
  ['**plumbing = API + Redis + worker main thread**', plumbing],
  ['worker inference thread (worker_threads: tokenize, pack, ORT calls)', (c) => c.inferenceThread],
  ['worker threads started by it (ORT intra-op pool, tokenizer pool)', (c) => c.inferencePools],
  ['worker, threads Node started (V8 platform: GC, compiler; libuv pool)', (c) => c.nodeThreads],
  ['server total (API, Redis, workers)', (c) => c.total],
  ['load generator (this process, not the server)', (c) => c.client],
];

/** One measured load, and what to divide its CPU time by. */
export interface MeteredLoad {
  name: string;
  cpu: StackCpu;
  requests: number;
  texts: number;
}

/** A markdown table of CPU ms per request for each load, and per text where requests carry several. */
export function cpuTable(loads: readonly MeteredLoad[]): string[] {
  const columns = loads.flatMap((load) => [
    { title: `${load.name}: ms/request`, load, per: load.requests },
    ...(load.texts > load.requests ? [{ title: `ms/text`, load, per: load.texts }] : []),
  ]);
  return [
    `| CPU time (utime + stime) | ${columns.map((c) => c.title).join(' | ')} |`,
    `|---|${columns.map(() => '---:').join('|')}|`,
    ...ROWS.map(
      ([name, value]) =>
        `| ${name} | ${columns.map((c) => fmt(value(c.load.cpu) / c.per, 3)).join(' | ')} |`,
    ),
  ];
}

/** The thread names `/proc/<pid>/task/<tid>/comm` gives, counted, per process. */
export function threadNames(reading: StackReading): string {
  const names = (cpu: ProcessCpu) => {
    const counts = new Map<string, number>();
    for (const t of cpu.threads) counts.set(t.name, (counts.get(t.name) ?? 0) + 1);
    return [...counts].map(([name, n]) => (n > 1 ? `${name} ×${n}` : name)).join(', ');
  };
  return `API: ${names(reading.api)}; worker: ${names(reading[workerKey(0)])}; Redis: ${names(reading.redis)}`;
}
