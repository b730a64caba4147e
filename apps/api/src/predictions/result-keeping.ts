/** Which kind of prediction a job is: a sync call (or coalesced calls), or an async create. */
export type PredictionKind = 'sync' | 'async';

/**
 * How long the finished jobs of a version's online queue are kept, both kinds sharing the queue.
 * BullMQ removes, as each job finishes, every finished job of its queue older than the age that
 * job carries, so every job of the queue carries one age, the longer TTL: no finishing job can cut
 * a result meant to live longer. The kind kept shorter (sync calls, unless the settings say
 * otherwise) is removed by our own sweep once it has been finished for its own TTL.
 */
export interface ResultKeeping {
  /** `removeOnComplete` / `removeOnFail` age of every job of the queue (seconds). */
  queueAgeS: number;
  /** The kind kept shorter than `queueAgeS`, and for how long; none when the TTLs agree. */
  short?: { kind: PredictionKind; keepS: number };
}

/** The keeping of online prediction jobs under RESULT_TTL_S and SYNC_RESULT_TTL_S. */
export function resultKeeping(ttls: { RESULT_TTL_S: number; SYNC_RESULT_TTL_S: number }) {
  const { RESULT_TTL_S: asyncS, SYNC_RESULT_TTL_S: syncS } = ttls;
  const keeping: ResultKeeping = { queueAgeS: Math.max(asyncS, syncS) };
  if (syncS < asyncS) keeping.short = { kind: 'sync', keepS: syncS };
  if (asyncS < syncS) keeping.short = { kind: 'async', keepS: asyncS };
  return keeping;
}

/** How long a job of `kind` outlives `keeping`'s queue age in the expiry index: undefined if not. */
export function expiryOf(keeping: ResultKeeping, kind: PredictionKind): number | undefined {
  return keeping.short?.kind === kind ? keeping.short.keepS : undefined;
}

/**
 * How often the short-lived results are swept: a tenth of their TTL, within 1 s and 60 s. A
 * result then stays at most its TTL and one interval (a 600 s TTL: 660 s at most).
 */
export function sweepIntervalMs(keepS: number): number {
  return Math.min(60_000, Math.max(1000, keepS * 100));
}
