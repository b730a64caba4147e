import type { Queue } from 'bullmq';

/** Chunks looked up and removed per round trip: each command's cost stays bounded by it. */
export const REMOVAL_SLICE = 200;

/**
 * Removes the chunks of a batch's parent that no worker holds, page by page: the parent's
 * dependencies are read with a cursor, and each chunk still among them is removed by BullMQ's own
 * removal of one job, which leaves a chunk a worker holds (locked) to finish or fail. Unlike
 * BullMQ's `removeUnprocessedChildren` (one script over every child, whose time grows with the
 * batch and can outlast REDIS_COMMAND_TIMEOUT_MS), no command here grows with the batch.
 * With `keep`, leaves that many chunks (at least) for the caller to remove with the parent.
 * Returns how many chunks were removed.
 */
export async function removeWaitingChildren(
  parents: Queue,
  parentId: string,
  chunks: Queue,
  { keep = 0, slice = REMOVAL_SLICE }: { keep?: number; slice?: number } = {},
): Promise<number> {
  const client = await parents.client;
  const dependencies = parents.toKey(`${parentId}:dependencies`);
  // Removing the last child would release the parent to a worker: the caller may keep a few.
  const most = keep > 0 ? (await client.scard(dependencies)) - keep : Infinity;
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
      const ids = page
        .filter((_, i) => still[i] === 1)
        .map(jobIdOfKey)
        .slice(0, Math.max(0, most - removed));
      const codes = await Promise.all(
        ids.map((id) => chunks.remove(id, { removeChildren: false })),
      );
      removed += codes.filter((code) => code === 1).length;
    }
  } while (cursor !== '0' && removed < most);
  return removed;
}

/** A job's id from its Redis key (`<prefix>:<queue>:<id>`; a chunk id holds no colon). */
function jobIdOfKey(key: string): string {
  return key.slice(key.lastIndexOf(':') + 1);
}
