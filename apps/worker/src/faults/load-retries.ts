import type { VersionRecord } from '@app/registry';

/** Delay before retrying a load after `failures` failures in a row: `firstMs` doubling, at most `maxMs`. */
export function loadRetryDelay(failures: number, firstMs: number, maxMs: number): number {
  return Math.min(maxMs, firstMs * 2 ** Math.max(0, failures - 1));
}

/**
 * What a version's record says about where and what its package is: when it changes (another
 * location, manifest or labels, or the version registered anew), a failed load is retried at once.
 */
export function recordFingerprint(record: VersionRecord): string {
  const { location, manifest, labels, registeredAt } = record;
  return JSON.stringify({ location, manifest, labels, registeredAt });
}

/** A version that failed to load, as this worker last tried it. */
export interface LoadFailure {
  /** The record it was tried from (see {@link recordFingerprint}). */
  fingerprint: string;
  /** Failures in a row from that record. */
  failures: number;
  reason: string;
  /** When the next try is due (`now()` clock). */
  retryAt: number;
}

/**
 * Versions a worker failed to load, and when to try each again: after a backoff that doubles with
 * every failure from the same record, or at once when the record changed. Pure bookkeeping.
 */
export class LoadRetries {
  private readonly failures = new Map<string, LoadFailure>();

  constructor(
    private readonly firstMs: number,
    private readonly maxMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** True when `key` has not failed, its record changed since it did, or its backoff is over. */
  due(key: string, fingerprint: string): boolean {
    const failure = this.failures.get(key);
    return !failure || failure.fingerprint !== fingerprint || this.now() >= failure.retryAt;
  }

  /** Records a failed load; a changed record starts the count (and the backoff) over. */
  failed(key: string, fingerprint: string, reason: string): LoadFailure {
    const previous = this.failures.get(key);
    const failures = previous?.fingerprint === fingerprint ? previous.failures + 1 : 1;
    const retryAt = this.now() + loadRetryDelay(failures, this.firstMs, this.maxMs);
    const failure = { fingerprint, failures, reason, retryAt };
    this.failures.set(key, failure);
    return failure;
  }

  /** Forgets a version (it loaded, or is no longer wanted); true when it had failed. */
  forget(key: string): boolean {
    return this.failures.delete(key);
  }

  /** Versions failing now. */
  keys(): string[] {
    return [...this.failures.keys()];
  }
}
