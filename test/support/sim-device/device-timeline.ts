/**
 * The timeline of the simulated device that the sessions of one process share, as the sessions
 * of a worker's inference threads share its GPU: one pass at a time, in the order they were
 * submitted. It lives in a SharedArrayBuffer that Node hands to every `worker_threads` thread as
 * environment data: the process's main thread makes it when it loads this module, so a process
 * whose main thread runs no session (a worker) preloads it (`--require`, see `bench/sim.bench.ts`).
 * A thread that finds none makes its own: a device of its own.
 */
import { getEnvironmentData, isMainThread, setEnvironmentData } from 'node:worker_threads';

const KEY = 'modelfleet: simulated device timeline';

/** This module, for a process to preload (`--require`) so that its threads share one device. */
export const DEVICE_TIMELINE_MODULE = __filename;

/** Int32 0: the lock; Float64 1: when the device is next free (ms since the epoch). */
function timelineBuffer(): SharedArrayBuffer {
  const shared = getEnvironmentData(KEY);
  if (shared instanceof SharedArrayBuffer) return shared;
  const own = new SharedArrayBuffer(16);
  if (isMainThread) setEnvironmentData(KEY, own);
  return own;
}

/** ms since the Unix epoch, fractional, comparable across the threads of a process. */
export const epochNow = () => performance.timeOrigin + performance.now();

/** A device that runs one pass at a time, shared by the threads of this process. */
export class DeviceTimeline {
  private readonly lock: Int32Array;
  private readonly freeAt: Float64Array;

  constructor(buffer: SharedArrayBuffer = timelineBuffer()) {
    this.lock = new Int32Array(buffer, 0, 1);
    this.freeAt = new Float64Array(buffer, 8, 1);
  }

  /**
   * Books the device for `busyMs` from now, or from the end of the passes booked before it, and
   * returns when the pass begins (ms since the epoch).
   */
  book(busyMs: number): number {
    while (Atomics.compareExchange(this.lock, 0, 0, 1) !== 0) Atomics.wait(this.lock, 0, 1);
    try {
      const start = Math.max(epochNow(), this.freeAt[0]);
      this.freeAt[0] = start + busyMs;
      return start;
    } finally {
      Atomics.store(this.lock, 0, 0);
      Atomics.notify(this.lock, 0, 1);
    }
  }
}

// Loaded in a process's main thread (directly or preloaded), the timeline is the process's.
if (isMainThread) timelineBuffer();
