import type { Queue } from 'bullmq';
import type { ChainableCommander } from 'ioredis';

/**
 * claimExpired-1: claims the finished jobs of a queue whose time to be kept has run out.
 * KEYS[1] the queue's expiry index: a sorted set of job ids, each scored with the earliest time
 *         (epoch ms) it may be removed.
 * ARGV[1] the queue's key prefix (`<prefix>:<queue>:`, a job's hash is ARGV[1] .. id);
 * ARGV[2] now (epoch ms); ARGV[3] how long a job is kept once finished (ms); ARGV[4] the most
 * ids to look at; ARGV[5] how long a claim holds (ms).
 * Of the ids due: one whose job is gone leaves the index; one whose job has not finished (waiting,
 * active, delayed for a retry) is due again a whole keep later (it cannot finish before now);
 * one finished less than ARGV[3] ago is due when that runs out; the rest are claimed: due again
 * once the claim runs out, should the claimer stop before removing them.
 * Returns how many ids it looked at, and the ids claimed.
 */
const CLAIM_EXPIRED = `
local now = tonumber(ARGV[2])
local keep = tonumber(ARGV[3])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
local claimed = {}
for _, id in ipairs(due) do
  local jobKey = ARGV[1] .. id
  local finishedOn = tonumber(redis.call('HGET', jobKey, 'finishedOn'))
  if finishedOn == nil then
    if redis.call('EXISTS', jobKey) == 0 then
      redis.call('ZREM', KEYS[1], id)
    else
      redis.call('ZADD', KEYS[1], now + keep, id)
    end
  elseif finishedOn + keep > now then
    redis.call('ZADD', KEYS[1], finishedOn + keep, id)
  else
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[5]), id)
    claimed[#claimed + 1] = id
  end
end
return {#due, claimed}`;

/** Ids looked at per claim: one claim's script stays short, and so does each removal round. */
const CLAIM_LIMIT = 200;

/** How long a claim holds: far longer than removing one claim's jobs takes. */
const CLAIM_MS = 60_000;

/**
 * Finished jobs of a queue kept for a shorter time than the age BullMQ removes the queue's
 * finished jobs at. BullMQ's `removeOnComplete: { age }` removes, whenever a job finishes, every
 * finished job of the queue older than the age *that* job carries (`removeJobsByMaxAge` in its
 * `moveToFinished` script), so jobs of one queue kept for different times must all carry the
 * longest, and those to be kept shorter are marked here as they are added, then removed by
 * {@link sweep} once they have been finished for their own time.
 *
 * The index is a sorted set beside the queue's keys (`<prefix>:<queue>:mf-expiry`, the queue's
 * Redis Cluster slot; no job id is `mf-expiry`). It holds one entry per marked job that still
 * exists, and a removed job's entry until the next sweep after its time: Redis keeps marked jobs
 * for their time and one sweep interval more. Any number of processes may sweep the same queue at
 * once: each claims the ids it removes in one script, so no two remove the same job, and a claim
 * whose process stopped comes due again. The only code that knows the index's key.
 */
export class ResultExpiry {
  private key(queue: Queue): string {
    return queue.toKey('mf-expiry');
  }

  /**
   * Queues, into `pipeline` (of the queue's own connection, so in its slot), the mark of job
   * `jobId` being added now: it may go `keepS` seconds after it finishes.
   */
  mark(pipeline: ChainableCommander, queue: Queue, jobId: string, keepS: number): void {
    pipeline.zadd(this.key(queue), Date.now() + keepS * 1000, jobId);
  }

  /**
   * Removes the marked jobs of `queue` finished `keepS` seconds ago or more, through BullMQ's own
   * removal (which refuses an active job; a waiting one is never claimed). Resolves with how many
   * it removed. Works in rounds of a few hundred, each a claim and its removals, so neither Redis
   * nor this event loop is held for long.
   */
  async sweep(queue: Queue, keepS: number): Promise<number> {
    const client = await queue.client;
    let removed = 0;
    for (;;) {
      const [looked, claimed] = (await client.eval(
        CLAIM_EXPIRED,
        1,
        this.key(queue),
        queue.toKey(''),
        Date.now(),
        keepS * 1000,
        CLAIM_LIMIT,
        CLAIM_MS,
      )) as [number, string[]];
      const codes = await Promise.all(
        claimed.map((id) => queue.remove(id, { removeChildren: false })),
      );
      // A job BullMQ would not remove (active again, after a retry) stays claimed: its entry
      // comes due with the claim, and it is looked at afresh.
      const gone = claimed.filter((_, i) => codes[i] === 1);
      if (gone.length > 0) await client.zrem(this.key(queue), ...gone);
      removed += gone.length;
      // Ids looked at and not claimed are due later: the next round sees the ones after them.
      if (looked < CLAIM_LIMIT) return removed;
    }
  }
}
