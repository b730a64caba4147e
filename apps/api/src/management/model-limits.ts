/** Models per page of `GET /models`, by default and at most. */
export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1000;
/** Longest wait of a `synchronous=true` scale call, in seconds. */
export const MAX_SYNC_WAIT_S = 60;
/** Most workers a version may ask for: a bound on what one request can make the fleet start. */
export const MAX_WORKERS_PER_VERSION = 64;
/** Longest time an answer may stay in a version's result cache, in seconds (30 days). */
export const MAX_CACHE_TTL_S = 2_592_000;
/**
 * Largest weight of a version in a traffic split: room for any percentage to four decimals, and
 * a sum that stays finite however many versions a split names.
 */
export const MAX_TRAFFIC_WEIGHT = 1_000_000;
