/** How `modelfleet serve` restarts a child process that exits without being asked to. */
export interface RestartPolicy {
  /** Delay before the first restart; it doubles with each crash in a row, up to `maxBackoffMs`. */
  backoffMs: number;
  maxBackoffMs: number;
  /** Exits in a row before the child said it had started, after which serve gives up. */
  maxStartFailures: number;
  /** A child that ran this long before it crashed starts the backoff again from `backoffMs`. */
  stableMs: number;
}

/** One unasked-for exit of a child. */
export interface ChildExit {
  /** Whether the child had reported itself started (its startup log line) before it exited. */
  started: boolean;
  /** How long it ran, in ms. */
  ranMs: number;
}

/** What to do after an exit: restart after a delay, or give up on the child. */
export type RestartDecision = { restart: true; delayMs: number } | { restart: false };

/**
 * Counts a child's exits and decides each restart: exponential backoff over crashes in a row
 * (a child that had been up for `stableMs` starts from the first delay again), and a give-up
 * after `maxStartFailures` exits in a row that came before the child ever started, so a child
 * that cannot start (a bad setting, a port in use) stops serve instead of looping.
 */
export class RestartTracker {
  private crashes = 0;
  private startFailures = 0;

  constructor(private readonly policy: RestartPolicy) {}

  /** Start failures in a row so far. */
  get failedStarts(): number {
    return this.startFailures;
  }

  onExit(exit: ChildExit): RestartDecision {
    this.startFailures = exit.started ? 0 : this.startFailures + 1;
    if (this.startFailures >= this.policy.maxStartFailures) return { restart: false };
    if (exit.started && exit.ranMs >= this.policy.stableMs) this.crashes = 0;
    this.crashes++;
    const delayMs = Math.min(
      this.policy.maxBackoffMs,
      this.policy.backoffMs * 2 ** Math.min(this.crashes - 1, 30),
    );
    return { restart: true, delayMs };
  }
}
