import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { predictionQueueName } from '@app/common';
import type { SettleOptions } from './traffic';

/** `completed` and `failed` events per job id in the BullMQ event stream of the version's queue. */
export async function countTerminalEvents(
  options: Pick<SettleOptions, 'redisUrl' | 'keyPrefix' | 'version'>,
  model: string,
): Promise<Map<string, number>> {
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 3 });
  try {
    const key = `${options.keyPrefix ?? 'mf'}:${predictionQueueName(model, options.version ?? '1')}:events`;
    const counts = new Map<string, number>();
    let from = '-';
    for (;;) {
      const entries = await redis.xrange(key, from, '+', 'COUNT', 1000);
      for (const [, fields] of entries) {
        const field = (name: string) => fields[fields.indexOf(name) + 1];
        const event = field('event');
        if (event === 'completed' || event === 'failed')
          counts.set(field('jobId'), (counts.get(field('jobId')) ?? 0) + 1);
      }
      if (entries.length < 1000) return counts;
      from = `(${entries.at(-1)![0]}`;
    }
  } finally {
    redis.disconnect();
  }
}

/**
 * The event stream is trimmed (BullMQ keeps about the last 10,000 events): the duplicate count
 * is sound only if every accepted job whose id is known and that finished shows up in it.
 */
export function assertEventsCover(
  accepted: readonly { id?: string; terminal?: string }[],
  terminalEvents: Map<string, number>,
  states: Map<string, string>,
): void {
  const finished = accepted.filter(
    (o) =>
      o.id && (o.terminal === 'failed' || ['succeeded', 'failed'].includes(states.get(o.id) ?? '')),
  );
  const missing = finished.filter((o) => !terminalEvents.has(o.id!));
  assert.deepEqual(
    missing.map((o) => o.id),
    [],
    'every finished job has its terminal event in the stream (else duplicates cannot be judged)',
  );
}
