/** What the supervisor knows about one model version at a decision. */
export interface VersionLoad {
  /** Local worker processes serving the version now. */
  current: number;
  minWorkers: number;
  maxWorkers: number;
  /** Jobs waiting (waiting + prioritized). */
  backlog: number;
  /** Age of the oldest waiting job, in ms (0 when none waits). */
  oldestWaitMs: number;
  /** Jobs being processed. */
  active: number;
  /** When the worker count last changed, and since when the version has had nothing to do. */
  lastChangeAt: number;
  idleSince?: number;
  now: number;
}

export interface ScalingPolicy {
  /** Waiting jobs per worker above which one more worker is started. */
  upBacklogPerWorker: number;
  /** Oldest waiting job age above which one more worker is started. */
  upWaitMs: number;
  /** Idle time after which one worker is stopped. */
  downIdleMs: number;
  /** Least time between two changes of the same version. */
  cooldownMs: number;
}

/**
 * The worker count a version should have next: always within [min, max]; otherwise one step
 * up under backlog or waiting time, one step down after a quiet spell, never two changes
 * within the cooldown (so it does not flap).
 */
export function desiredWorkers(load: VersionLoad, policy: ScalingPolicy): number {
  const clamp = (n: number) => Math.min(load.maxWorkers, Math.max(load.minWorkers, n));
  const bounded = clamp(load.current);
  if (bounded !== load.current) return bounded;
  if (load.now - load.lastChangeAt < policy.cooldownMs) return load.current;
  const pressed =
    load.backlog > policy.upBacklogPerWorker * Math.max(1, load.current) ||
    load.oldestWaitMs > policy.upWaitMs;
  if (pressed) return clamp(load.current + 1);
  const quiet = load.backlog === 0 && load.active === 0 && load.idleSince !== undefined;
  if (quiet && load.now - load.idleSince! >= policy.downIdleMs) return clamp(load.current - 1);
  return load.current;
}

/**
 * ONNX Runtime threads for each local worker of a version that may run `maxWorkers` processes at
 * once on `cores` CPUs: the cores shared among them, so that a version scaled up does not run
 * `maxWorkers` pools of one thread per core each. Undefined (ORT's own choice) for a version of
 * one worker.
 */
export function intraOpThreadsPerWorker(cores: number, maxWorkers: number): number | undefined {
  return maxWorkers > 1 ? Math.max(1, Math.floor(cores / maxWorkers)) : undefined;
}
