import type { Queue } from 'bullmq';

/** Chunks looked up and removed per round trip: each command's cost stays bounded by it. */
export const REMOVAL_SLICE = 200;

/**
 * Removes the chunks of a batch's parent that no worker holds, page by page: the parent's
 * dependencies are read with a cursor, and each chunk still among them is removed by BullMQ's own
 * removal of one job, which leaves a chunk a worker holds (locked) to finish or fail. Unlike
 * BullMQ's `removeUnprocessedChildren` (one script over every child, whose time grows with the
 * batch and can outlast REDIS_COMMAND_TIMEOUT_MS), no command here grows with the batch.
 * Returns how many chunks were removed.
 */
export async function removeWaitingChildren(
  parents: Queue,
  parentId: string,
  chunks: Queue,
  slice = REMOVAL_SLICE,
): Promise<number> {
  const client = await parents.client;
  const dependencies = parents.toKey(`${parentId}:dependencies`);
  let removed = 0;
  let cursor = '0';
  do {
    const [next, keys] = await client.sscan(dependencies, cursor, 'COUNT', slice);
    cursor = next;
    // COUNT is a hint to Redis: a page may hold a few more keys, cut again here.
    for (let start = 0; start < keys.length; start += slice) {
      const page = keys.slice(start, start + slice);
      // A chunk a worker finished since the page was read is no longer a dependency: kept.
      const still = await client.smismember(dependencies, ...page);
      const ids = page.filter((_, i) => still[i] === 1).map(jobIdOfKey);
      const codes = await Promise.all(
        ids.map((id) => chunks.remove(id, { removeChildren: false })),
      );
      removed += codes.filter((code) => code === 1).length;
    }
  } while (cursor !== '0');
  return removed;
}

/** A job's id from its Redis key (`<prefix>:<queue>:<id>`; a chunk id holds no colon). */
function jobIdOfKey(key: string): string {
  return key.slice(key.lastIndexOf(':') + 1);
}
