/** Busy time over which the meter's average fades: older work weighs e^-1 less per this much. */
const HORIZON_MS = 10_000;

/**
 * Texts per second a worker answers for one version **while it has work**: texts answered
 * divided by the time at least one of the version's jobs was in hand (taken from the queue and
 * not yet answered), as an exponentially weighted average over the last ~10 s of such busy time.
 *
 * Idle time does not count, so the figure is what the worker drains when a backlog stands before
 * it (queue wait ≈ backlog / the fleet's sum of these), not the traffic it happens to get. It
 * includes everything a job costs here (grouping, Redis, the forward pass). At light load groups
 * are small and the figure is conservative; it rises as load builds and groups grow.
 */
export class ThroughputMeter {
  /** Texts answered, each weighted by how much busy time has passed since. */
  private texts = 0;
  /** Busy time, weighted the same way, in ms. */
  private busyMs = 0;
  private busySince?: number;

  constructor(
    private readonly now: () => number = () => performance.now(),
    private readonly horizonMs = HORIZON_MS,
  ) {}

  /** Says whether the version has jobs in hand now; call on every change. */
  setBusy(busy: boolean): void {
    if (busy === (this.busySince !== undefined)) return;
    if (busy) this.busySince = this.now();
    else {
      this.accrue();
      this.busySince = undefined;
    }
  }

  /** Records texts answered. */
  answered(texts: number): void {
    this.accrue();
    this.texts += texts;
  }

  /** Texts per second while busy; undefined until something was answered. */
  get rate(): number | undefined {
    this.accrue();
    return this.texts > 0 && this.busyMs > 0 ? (this.texts / this.busyMs) * 1000 : undefined;
  }

  /** Adds the busy time since the last look, fading what came before. */
  private accrue(): void {
    if (this.busySince === undefined) return;
    const now = this.now();
    const elapsed = now - this.busySince;
    this.busySince = now;
    const fade = Math.exp(-elapsed / this.horizonMs);
    this.texts *= fade;
    // The integral of e^(-age/horizon) over the elapsed time: a constant rate reads exactly.
    this.busyMs = this.busyMs * fade + this.horizonMs * (1 - fade);
  }
}
