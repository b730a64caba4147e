/**
 * A version's backlog as one process sees it between reads: the last count read from Redis,
 * plus every job this process added since that read began (or still adding). It never counts
 * fewer jobs than the queue holds from this process's adds, so a bound checked against it holds
 * exactly for one API process; replicas may each pass it by what they add within one read
 * interval. Jobs finished since the read still count until the next one (it errs towards full).
 * Pure: the owner reads, and says when.
 */
export class BacklogEstimate {
  private counted = 0;
  /** Adds settled before the read in flight began (it may or may not have seen them). */
  private carried = 0;
  /** Adds settled since the read in flight (or the last read) began. */
  private settled = 0;
  private adding = 0;
  private readStartedAt = Number.NEGATIVE_INFINITY;
  private reading = false;

  /** Jobs standing before the version, at most (see the class). */
  get jobs(): number {
    return this.counted + this.carried + this.settled + this.adding;
  }

  /** Adds begun since the last read began (or ended, if they failed). */
  get addedSinceRead(): number {
    return this.settled + this.adding;
  }

  /** True when a read is due: none is in flight, and none began within `intervalMs` of `now`. */
  due(now: number, intervalMs: number): boolean {
    return !this.reading && now - this.readStartedAt >= intervalMs;
  }

  /** A read begins: what settled so far is carried until its count arrives. */
  readStarted(now: number): void {
    this.reading = true;
    this.readStartedAt = now;
    this.carried += this.settled;
    this.settled = 0;
  }

  /** The count the read found; what settled while it ran still counts on top. */
  readDone(count: number): void {
    this.reading = false;
    this.counted = count;
    this.carried = 0;
  }

  /** A read failed: keep counting on what was known. */
  readFailed(): void {
    this.reading = false;
    this.readStartedAt = Number.NEGATIVE_INFINITY;
  }

  /** An add begins. */
  addStarted(): void {
    this.adding++;
  }

  /** An add ended; `added` false when it failed (the job is not there). */
  addEnded(added: boolean): void {
    this.adding--;
    if (added) this.settled++;
  }
}
