import type { Queue } from 'bullmq';

/** Jobs one `clean` call removes at most: each call stays short. */
const CLEAN_LIMIT = 1000;

/**
 * Removes the finished jobs of `queue` (completed and failed, or those of `types`) that finished
 * `ageS` seconds ago or more, as BullMQ's own trim does. BullMQ trims a queue only as one of its
 * jobs finishes: the last jobs to finish in a queue where none finishes any more (a version no
 * longer called, a webhook queue gone quiet, the queues of an unregistered version) would stay
 * for ever. The age is the one the queue's jobs carry, so this removes nothing BullMQ would keep.
 * Resolves with how many it removed.
 */
export async function trimFinished(
  queue: Queue,
  ageS: number,
  types: ('completed' | 'failed')[] = ['completed', 'failed'],
): Promise<number> {
  const client = await queue.client;
  const cutoff = Date.now() - ageS * 1000;
  let removed = 0;
  for (const type of types) {
    // BullMQ's clean writes an event to the queue's stream even when it removes nothing: only
    // a queue with jobs due is cleaned, so a quiet queue's stream does not grow, nor does a
    // removed queue's come back.
    if ((await client.zcount(queue.toKey(type), '-inf', cutoff)) === 0) continue;
    for (;;) {
      const ids = await queue.clean(ageS * 1000, CLEAN_LIMIT, type);
      removed += ids.length;
      if (ids.length < CLEAN_LIMIT) break;
    }
  }
  return removed;
}

/**
 * dropEmptyQueue-1: removes the keys of a queue that holds no job at all.
 * KEYS[1] the queue's meta hash (it routes the script to the queue's Redis Cluster node);
 * ARGV[1] the queue's key prefix (`<prefix>:<queue>:`, in one Redis Cluster slot, as BullMQ's own
 * scripts build them); ARGV[2..] suffixes of the keys to remove.
 * Returns 1 when it removed them, 0 (and removes nothing) while any job is in the queue.
 */
const DROP_EMPTY_QUEUE = `
local base = ARGV[1]
for _, list in ipairs({'wait', 'paused', 'active'}) do
  if redis.call('LLEN', base .. list) > 0 then return 0 end
end
for _, set in ipairs({'prioritized', 'delayed', 'completed', 'failed', 'waiting-children'}) do
  if redis.call('ZCARD', base .. set) > 0 then return 0 end
end
for i = 2, #ARGV do redis.call('DEL', base .. ARGV[i]) end
return 1`;

/**
 * What is left of a queue once its last job is gone: BullMQ's own keys (those its `obliterate`
 * removes), and ours beside them: the expiry index (ResultExpiry) and the progress counters
 * (QueueProgress).
 */
const LEFT_OVER = [
  'events',
  'delay',
  'stalled-check',
  'stalled',
  'id',
  'pc',
  'marker',
  'meta',
  'limiter',
  'metrics:completed',
  'metrics:completed:data',
  'metrics:failed',
  'metrics:failed:data',
  'mf-expiry',
  'mf-progress',
];

/**
 * Removes every key of `queue` if it holds no job, in one script: for a queue nothing adds to any
 * more (the queues of an unregistered version, once their last job has gone). Unlike BullMQ's
 * `obliterate`, it never pauses the queue, so a queue that is in use again is left as it is.
 * Resolves with whether it removed them.
 */
export async function dropEmptyQueue(queue: Queue): Promise<boolean> {
  const client = await queue.client;
  const dropped = await client.eval(
    DROP_EMPTY_QUEUE,
    1,
    queue.toKey('meta'),
    queue.toKey(''),
    ...LEFT_OVER,
  );
  return dropped === 1;
}
