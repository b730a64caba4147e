import type { PackingLimits } from '@app/handler/package';

/** What a measured forward pass held and took. */
export interface MeasuredPass {
  paddedTokens: number;
  inferenceMs: number;
}

/** How long after the last online group bulk passes stay cut (a caller that comes back finds small passes). */
export const ONLINE_QUIET_MS = 1000;

/**
 * What a forward pass costs per padded token, learnt from the passes the thread ran: a moving
 * average of `inferenceMs / (paddedTokens + passOverheadTokens)`, so that a pass's fixed cost is
 * counted as the packer counts it.
 */
export class PassCost {
  private msPerToken?: number;

  constructor(
    private readonly overheadTokens = 0,
    /** Weight of the newest pass in the average. */
    private readonly weight = 0.2,
  ) {}

  /** Takes a pass's measured time into the estimate. */
  observe(pass: MeasuredPass): void {
    const tokens = pass.paddedTokens + this.overheadTokens;
    if (tokens <= 0 || !(pass.inferenceMs >= 0)) return;
    const sample = pass.inferenceMs / tokens;
    this.msPerToken =
      this.msPerToken === undefined
        ? sample
        : this.msPerToken + this.weight * (sample - this.msPerToken);
  }

  /**
   * Most padded tokens a pass may hold to cost about `ms`. 0 (every text a pass of its own)
   * until a pass has been measured.
   */
  tokensWithin(ms: number): number {
    if (this.msPerToken === undefined || this.msPerToken === 0) return 0;
    return Math.max(0, Math.floor(ms / this.msPerToken - this.overheadTokens));
  }
}

/**
 * Sizes the forward passes of bulk groups. While online work is about (an online group arrived
 * or finished less than {@link ONLINE_QUIET_MS} ago), a bulk pass holds what `passMs` of work
 * buys at the measured cost per token (a text longer than that still goes, alone), so that an
 * online group waits for at most one such pass. Otherwise bulk passes are as large as the
 * version's packing limits allow. Pure: the clock is given.
 */
export class BulkPassPolicy {
  private readonly cost: PassCost;
  private lastOnline = -Infinity;

  constructor(
    private readonly limits: PackingLimits,
    private readonly passMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.cost = new PassCost(limits.passOverheadTokens ?? 0);
  }

  /** Every forward pass the thread runs, online or bulk, teaches the cost per token. */
  observe(pass: MeasuredPass): void {
    this.cost.observe(pass);
  }

  /** An online group arrived or finished. */
  onlineSeen(): void {
    this.lastOnline = this.now();
  }

  /** Whether online work is about, so bulk passes are cut. */
  get onlineActive(): boolean {
    return this.now() - this.lastOnline < ONLINE_QUIET_MS;
  }

  /** Packing limits of the next bulk pass. */
  bulkLimits(): PackingLimits {
    if (!this.onlineActive) return this.limits;
    const budget = this.cost.tokensWithin(this.passMs);
    return { ...this.limits, maxBatchTokens: Math.min(this.limits.maxBatchTokens, budget) };
  }
}
