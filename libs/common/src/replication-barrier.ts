import { isCluster, type RedisConnection } from './redis';

/** Raised when fewer replicas than asked hold a job within the bounded wait. */
export class NotReplicatedError extends Error {
  override readonly name = 'NotReplicatedError';

  constructor(
    /** Replicas that did acknowledge (WAIT's answer). */
    readonly acknowledged: number,
    readonly wanted: number,
    readonly timeoutMs: number,
    /** True when the primary no longer holds the job at all (it changed since the write). */
    readonly missing = false,
  ) {
    super(
      missing
        ? 'the job is not on the Redis primary any more: it changed (a failover) since the job was written'
        : `${acknowledged} of the ${wanted} Redis replicas asked for acknowledged the job within ${timeoutMs} ms`,
    );
  }
}

/** Callers of one round, all answered by its WAIT. */
interface Round {
  keys: string[];
  joined: { resolve: () => void; reject: (error: unknown) => void; keys: string[] }[];
}

/**
 * "Acknowledged means replicated": resolves once at least `replicas` replicas hold every write
 * this process made to a key's Redis node before the call, on any of its connections.
 *
 * Redis's `WAIT` only covers the writes of the connection it is sent on. The replication stream
 * is ordered, though, so a small write of a connection of its own (a barrier key in the slot of
 * the keys in question) sent after those writes were answered lands behind them, and a `WAIT` on
 * that connection covers them too. That lets concurrent callers share rounds: a round is one
 * pipeline (barrier write, `EXISTS` of each caller's key, `WAIT`), and callers that arrive while
 * one is in flight go together in the next. The `EXISTS` check makes sure the node that
 * acknowledged is the one that took the write: across a failover, a new primary that never got a
 * job must not vouch for it. `WAIT` blocks only this connection, never the request connection.
 */
export class ReplicationBarrier {
  /** Per barrier key (one per Redis Cluster slot in use): the round in flight and the next. */
  private readonly slots = new Map<string, { running: boolean; next?: Round }>();

  constructor(
    /** A connection of the barrier's own, whose command timeout allows for `timeoutMs`. */
    private readonly connection: RedisConnection,
    readonly replicas: number,
    readonly timeoutMs: number,
  ) {}

  /**
   * Waits until `replicas` replicas hold `keys` (job hashes, all in the slot of `barrierKey`) and
   * whatever was written before them; rejects with {@link NotReplicatedError} when fewer did
   * within the bound, or with the connection's error when Redis is unreachable.
   */
  hold(barrierKey: string, keys: string[]): Promise<void> {
    let slot = this.slots.get(barrierKey);
    if (!slot) this.slots.set(barrierKey, (slot = { running: false }));
    const round = (slot.next ??= { keys: [], joined: [] });
    const answered = new Promise<void>((resolve, reject) =>
      round.joined.push({ resolve, reject, keys }),
    );
    round.keys.push(...keys);
    if (!slot.running) void this.run(barrierKey);
    return answered;
  }

  private async run(barrierKey: string): Promise<void> {
    const slot = this.slots.get(barrierKey)!;
    slot.running = true;
    while (slot.next) {
      const round = slot.next;
      slot.next = undefined;
      await this.round(barrierKey, round);
    }
    slot.running = false;
    this.slots.delete(barrierKey);
  }

  private async round(barrierKey: string, round: Round): Promise<void> {
    try {
      const pipeline = this.connection.pipeline();
      // Expires by itself: a barrier leaves nothing behind.
      pipeline.set(barrierKey, '1', 'PX', 60_000);
      for (const key of round.keys) pipeline.exists(key);
      pipeline.call('WAIT', this.replicas, this.timeoutMs);
      const results = (await pipeline.exec()) ?? [];
      const failed = results.find(([error]) => error)?.[0];
      if (
        failed &&
        /^(MOVED|ASK|CLUSTERDOWN) /.test(failed.message) &&
        isCluster(this.connection)
      ) {
        // The slot has a new primary (a failover): what took the job cannot be vouched for. The
        // cluster learns the new layout for the next round (a pipeline holding WAIT, which
        // succeeds anywhere, is not redirected by ioredis itself).
        this.connection.refreshSlotsCache();
        throw new NotReplicatedError(0, this.replicas, this.timeoutMs, true);
      }
      if (failed) throw failed;
      const held = new Set(round.keys.filter((_, i) => results[i + 1][1] === 1));
      const acknowledged = Number(results.at(-1)![1]);
      for (const caller of round.joined) {
        if (!caller.keys.every((key) => held.has(key)))
          caller.reject(new NotReplicatedError(acknowledged, this.replicas, this.timeoutMs, true));
        else if (acknowledged < this.replicas)
          caller.reject(new NotReplicatedError(acknowledged, this.replicas, this.timeoutMs));
        else caller.resolve();
      }
    } catch (error) {
      for (const caller of round.joined) caller.reject(error);
    }
  }
}
