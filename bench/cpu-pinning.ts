import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/** Which CPUs the server processes and the load generator may run on. */
export interface CpuSplit {
  server: number[];
  client: number[];
}

/** Parses a CPU list as Linux writes it (`0-3,6,8-9`). */
export function parseCpuList(list: string): number[] {
  const cpus: number[] = [];
  for (const part of list.trim().split(',').filter(Boolean)) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!match) throw new Error(`not a CPU list: "${list}" (expected e.g. 0-3,6)`);
    const first = Number(match[1]);
    const last = Number(match[2] ?? match[1]);
    for (let cpu = first; cpu <= last; cpu++) cpus.push(cpu);
  }
  return cpus;
}

/** Writes CPUs as a list `taskset -c` takes, ranges folded (`0-3,6`). */
export function formatCpuList(cpus: readonly number[]): string {
  const sorted = [...new Set(cpus)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(j > i ? `${sorted[i]}-${sorted[j]}` : String(sorted[i]));
    i = j + 1;
  }
  return parts.join(',');
}

/**
 * The split of `allowed` CPUs: `spec` `SERVER:CLIENT` (two CPU lists) when given, otherwise the
 * last quarter of them (at least one) for the load generator and the rest for the server.
 */
export function splitCpus(allowed: readonly number[], spec?: string): CpuSplit {
  if (spec?.includes(':')) {
    const [server, client] = spec.split(':').map(parseCpuList);
    const foreign = [...server, ...client].filter((cpu) => !allowed.includes(cpu));
    if (server.length === 0 || client.length === 0 || foreign.length > 0)
      throw new Error(
        `BENCH_PIN=${spec}: expected SERVER:CLIENT, two non-empty lists of the CPUs this process may use (${formatCpuList(allowed)})`,
      );
    if (server.some((cpu) => client.includes(cpu)))
      throw new Error(`BENCH_PIN=${spec}: the server and the load generator share CPUs`);
    return { server, client };
  }
  if (allowed.length < 2)
    throw new Error(`pinning needs two CPUs or more; this process may use ${allowed.length}`);
  const clientCount = Math.max(1, Math.floor(allowed.length / 4));
  return {
    server: allowed.slice(0, allowed.length - clientCount),
    client: allowed.slice(allowed.length - clientCount),
  };
}

/** The CPUs a thread may run on (`Cpus_allowed_list` of its status file). */
function allowedList(statusPath: string): string {
  const line = readFileSync(statusPath, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Cpus_allowed_list:'));
  if (!line) throw new Error(`${statusPath} has no Cpus_allowed_list`);
  return line.slice('Cpus_allowed_list:'.length).trim();
}

/** The CPUs this process may run on. */
export function allowedCpus(): number[] {
  return parseCpuList(allowedList('/proc/self/status'));
}

/** Binds every thread of process `pid` to `cpus` (`taskset -a -p`); threads it starts later inherit it. */
export function pinProcess(pid: number, cpus: readonly number[]): void {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', formatCpuList(cpus), String(pid)], {
      stdio: 'ignore',
    });
  } catch (error) {
    throw new Error(
      `taskset could not pin process ${pid} to CPUs ${formatCpuList(cpus)} (util-linux installed?): ${String(error)}`,
    );
  }
}

/** The CPUs the threads of `pid` may run on, read back from `/proc`: one list, or each distinct one. */
export function processCpus(pid: number): string {
  const lists = new Set<string>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      lists.add(allowedList(`/proc/${pid}/task/${tid}/status`));
    } catch {
      // The thread ended while it was read.
    }
  }
  return [...lists].join(' / ');
}
