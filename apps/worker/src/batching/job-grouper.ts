/** One job waiting for a group. */
export interface GroupItem {
  /** Texts the job carries (a job is never split across groups). */
  readonly size: number;
  /** Lower runs first, as in BullMQ (online jobs 0, bulk jobs higher). */
  readonly priority: number;
  /**
   * When the job must have started, on the grouper's clock: among jobs of equal priority the
   * earliest deadline goes first (none goes last), and a job past it is dropped, never sent.
   */
  readonly deadline?: number;
}

/** How large a group may grow, and how long the grouper waits for one to fill. */
export interface GroupLimits {
  /** Most texts sent to the inference thread in one group (a larger single job goes alone). */
  readonly maxGroupTexts: number;
  /** Most texts of bulk jobs (priority above 0) in one group, so online jobs wait little behind them. */
  readonly maxBulkGroupTexts?: number;
  /**
   * Bulk groups (priority above 0) that may be in flight at once (default 1), so that the
   * inference thread holds the next one, tokenized, while a pass runs.
   */
  readonly maxBulkInFlight?: number;
  /** Longest an idle grouper waits for more jobs after the first one arrived. */
  readonly maxDelayMs: number;
  /**
   * An idle grouper flushes once no job arrived for this long (bounded by maxDelayMs);
   * 0 flushes right after the current turn of the event loop.
   */
  readonly gapMs: number;
}

/**
 * Collects jobs into groups for the inference thread, adaptively. While a group runs, new jobs
 * pile up and go together the moment it ends, so groups grow with load. When idle, the grouper
 * expects as many jobs as the last group held: once that many are here (a lone caller: at
 * once) the group goes as soon as the code that added the last of them has run (a microtask,
 * not a turn of the event loop); until then it waits for
 * companions while they keep arriving within `gapMs` of each other, never past `maxDelayMs`.
 * At most one online group is in flight, and up to `maxBulkInFlight` bulk groups beside it (an
 * online group may go while bulk groups run: the inference thread runs it before the next bulk
 * forward pass). Pure logic: no Redis, no threads.
 */
export class JobGrouper<T extends GroupItem> {
  private pending: T[] = [];
  private pendingTexts = 0;
  private onlineInFlight = false;
  private bulkInFlight = 0;
  private firstArrival = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  /** A flush is queued as a microtask (see {@link flushSoon}). */
  private microtask = false;
  /** Jobs in the last group sent: how many callers are likely to come back together. */
  private expectedJobs = 1;

  constructor(
    private readonly limits: GroupLimits,
    /** Runs one group; the grouper sends the next group once it settles. */
    private readonly run: (group: T[]) => Promise<void>,
    private readonly now: () => number = () => performance.now(),
    /** Hears the jobs dropped because their deadline passed before a group took them. */
    private readonly expired: (items: T[]) => void = () => undefined,
  ) {}

  add(item: T): void {
    if (this.pending.length === 0) this.firstArrival = this.now();
    this.pending.push(item);
    this.pendingTexts += item.size;
    if (!this.canSend()) return;
    if (this.pendingTexts >= this.limits.maxGroupTexts) return this.flush();
    const untilDeadline = this.firstArrival + this.limits.maxDelayMs - this.now();
    if (untilDeadline <= 0) return this.flush();
    clearTimeout(this.timer);
    if (this.pending.length >= this.expectedJobs) {
      // As many jobs as came together last time: the group goes once the code that added this
      // one has run (the parts of a job, added in one go, still join it), before the consumer's
      // next fetch is sent; a turn of the event loop cost a lone call 0.2-0.3 ms.
      this.flushSoon();
      return;
    }
    if (this.limits.gapMs === 0) {
      // Jobs fetched in the same turn of the event loop still join this group.
      this.immediate ??= setImmediate(() => {
        this.immediate = undefined;
        this.flush();
      });
      return;
    }
    this.timer = setTimeout(() => this.flush(), Math.min(this.limits.gapMs, untilDeadline));
  }

  /**
   * Sends groups now while there is room: an online group when none is in flight, bulk groups
   * up to the bound.
   */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.canSend()) {
      this.dropExpired();
      // The online jobs that let a group go beside bulk ones may have just expired.
      if (this.pending.length === 0 || !this.canSend()) return;
      this.send(this.takeGroup());
    }
  }

  /** Flushes once the current task's synchronous code and the microtasks before this one ran. */
  private flushSoon(): void {
    if (this.microtask) return;
    this.microtask = true;
    queueMicrotask(() => {
      this.microtask = false;
      this.flush();
    });
  }

  private send(group: T[]): void {
    const bulk = group[0].priority > 0;
    if (bulk) this.bulkInFlight++;
    else this.onlineInFlight = true;
    this.run(group)
      .catch(() => undefined)
      .finally(() => {
        if (bulk) this.bulkInFlight--;
        else this.onlineInFlight = false;
        if (this.pending.length > 0) this.flush();
      });
  }

  /**
   * No online group in flight, and either an online job waits or fewer bulk groups than the
   * bound are in flight (the pending jobs are sorted online first when a group is taken).
   */
  private canSend(): boolean {
    if (this.onlineInFlight) return false;
    if (this.bulkInFlight < (this.limits.maxBulkInFlight ?? 1)) return true;
    return this.pending.some((item) => item.priority === 0);
  }

  /**
   * Drops every job not yet sent and returns them (the group in flight, if any, is the
   * caller's): what a consumer does when its inference thread died and it hands jobs back.
   */
  clear(): T[] {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = undefined;
    const dropped = this.pending;
    this.pending = [];
    this.pendingTexts = 0;
    return dropped;
  }

  /** Takes the jobs whose deadline has passed out of the pending ones and hands them over. */
  private dropExpired(): void {
    const now = this.now();
    const late = this.pending.filter((item) => item.deadline !== undefined && item.deadline <= now);
    if (late.length === 0) return;
    this.pending = this.pending.filter((item) => !late.includes(item));
    this.pendingTexts -= late.reduce((sum, item) => sum + item.size, 0);
    this.expired(late);
  }

  /**
   * Highest priority first, earliest deadline first within a priority (no deadline last), else
   * arrival order; whole jobs up to the text limit. A group that holds online jobs holds no bulk
   * job, so online answers never wait for bulk work beyond the group already running.
   */
  private takeGroup(): T[] {
    // Array.prototype.sort is stable: equal keys keep their arrival order.
    this.pending.sort(
      (a, b) => a.priority - b.priority || (a.deadline ?? Infinity) - (b.deadline ?? Infinity) || 0,
    );
    const group: T[] = [];
    let texts = 0;
    while (this.pending.length > 0) {
      const next = this.pending[0];
      if (group.length > 0 && texts + next.size > this.limits.maxGroupTexts) break;
      const bulkCap = this.limits.maxBulkGroupTexts ?? Infinity;
      if (
        group.length > 0 &&
        next.priority > 0 &&
        (group[0].priority === 0 || texts + next.size > bulkCap)
      )
        break;
      group.push(next);
      texts += next.size;
      this.pending.shift();
    }
    this.pendingTexts -= texts;
    this.expectedJobs = group.length;
    if (this.pending.length > 0) this.firstArrival = this.now();
    return group;
  }
}
