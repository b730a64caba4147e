import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { after } from 'node:test';

/**
 * Every process a test file starts, so that none outlives the file: each `after` hook stops what
 * its tests started, and this registry is the safety net behind them. Processes started with
 * {@link spawnGroup} lead a process group of their own, so stopping one also stops what it
 * started (the workers of `modelfleet serve`); a single process (redis-server) is tracked by pid.
 * A target is a pid, negative for a whole group, as `process.kill` takes it.
 */
const targets = new Set<number>();

/** Sends a signal to a pid or group; false when nothing is left there. */
function signal(target: number, name: NodeJS.Signals | 0): boolean {
  try {
    process.kill(target, name);
    return true;
  } catch {
    return false;
  }
}

/** SIGKILLs everything still tracked; synchronous, so it may run in an `exit` handler. */
function killAll(): void {
  for (const target of targets) signal(target, 'SIGKILL');
  targets.clear();
}

/**
 * Spawns a process as the leader of a new process group and tracks the group until nothing of
 * it is left; it is SIGKILLed at the end of the test file at the latest, so its output pipes
 * cannot keep the file running.
 */
export function spawnGroup(command: string, args: string[], options: SpawnOptions): ChildProcess {
  const child = spawn(command, args, { ...options, detached: true });
  if (child.pid === undefined) return child; // 'error' (e.g. ENOENT) follows on the child
  const group = -child.pid;
  targets.add(group);
  child.once('exit', () => {
    if (!signal(group, 0)) targets.delete(group);
  });
  return child;
}

/** SIGKILLs the whole group of a child started by {@link spawnGroup}, leader and all. */
export function killGroup(child: ChildProcess): void {
  if (child.pid !== undefined && signal(-child.pid, 'SIGKILL')) targets.delete(-child.pid);
}

/** Tracks one process started elsewhere (a redis-server) until `untrack`. */
export function track(pid: number): void {
  targets.add(pid);
}

export function untrack(pid: number): void {
  targets.delete(pid);
}

// At the end of a test file, whatever failed (not in a benchmark that borrows the test stack,
// where a root hook would start node:test's reporter), and when the process exits or is told to stop.
if (process.env.NODE_TEST_CONTEXT || /\.(test|spec)\.js$/.test(process.argv[1] ?? ''))
  after(killAll);
process.on('exit', killAll);
for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  const onSignal = () => {
    killAll();
    // Keep the default outcome (the process ends by that signal) unless someone else handles it.
    if (process.listenerCount(name) === 1) {
      process.removeListener(name, onSignal);
      process.kill(process.pid, name);
    }
  };
  process.on(name, onSignal);
}
