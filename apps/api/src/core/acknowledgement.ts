import { NotReplicatedError, type ReplicationBarrier } from '@app/common';
import type { Queue } from 'bullmq';
import { Problem } from './problem';

/** When a caller refused for want of replicas should try again, in seconds. */
const RETRY_AFTER_S = 2;

/**
 * REDIS_ACK_REPLICAS: jobs just written are answered as accepted only once enough replicas hold
 * them (see {@link ReplicationBarrier}); without the setting, at once.
 */
export class Acknowledgement {
  constructor(private readonly barrier?: ReplicationBarrier) {}

  /** Waits until the jobs `jobIds` of `queue` are replicated; a 503 problem when they are not. */
  async replicated(queue: Pick<Queue, 'toKey'>, jobIds: string[]): Promise<void> {
    if (!this.barrier) return;
    try {
      await this.barrier.hold(
        queue.toKey('mf-ack'),
        jobIds.map((id) => queue.toKey(id)),
      );
    } catch (error) {
      if (!(error instanceof NotReplicatedError)) throw error;
      throw new Problem(
        503,
        'Not replicated',
        `${error.message}, so it is not accepted: it may still run, or be lost in a failover, ` +
          'and a retry may run it a second time',
        { replicas_wanted: error.wanted, replicas_acknowledged: error.acknowledged },
      ).retryAfter(RETRY_AFTER_S);
    }
  }
}
