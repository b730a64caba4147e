/**
 * Deaths of inference threads within a sliding window. A worker restarts a dead thread while
 * fewer than `max` deaths fell within the last `windowMs`; at the `max`-th it gives up and exits,
 * so that whatever supervises it (`modelfleet serve`, Kubernetes) replaces the process: a thread
 * that keeps dying points at the process or its machine, which a restart in place cannot fix.
 */
export class DeathWindow {
  private deaths: number[] = [];

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Records one death; true while a restart is still allowed. */
  record(): boolean {
    const now = this.now();
    this.deaths = this.deaths.filter((at) => now - at < this.windowMs);
    this.deaths.push(now);
    return this.deaths.length < this.max;
  }

  /** Deaths recorded within the window. */
  get recent(): number {
    const now = this.now();
    return this.deaths.filter((at) => now - at < this.windowMs).length;
  }
}
