import { Worker, type Job, type Queue } from 'bullmq';
import { batchParentQueueName, finishedBatchOptions, type BatchJobData } from '@app/common';
import type { VersionRecord } from '@app/registry';
import type { ConsumerContext } from './consumer-context';
import { closeWhenConnected } from './close-when-connected';

/**
 * Hands the batch parents of one model version, which BullMQ releases once every chunk of the
 * batch is done, on to the queue of finished batches that the API sums up. A parent lives with
 * its chunks (one hash tag, so one Redis Cluster slot); the finished-batch queue is one for all
 * versions. The finished batch's id is the batch's: a parent handed on twice is summed up once.
 */
export class BatchRelay {
  private readonly worker: Worker<BatchJobData>;

  constructor(
    { name, version }: VersionRecord,
    { connection, config, redisErrors }: ConsumerContext,
    private readonly finished: Queue<BatchJobData>,
  ) {
    this.worker = new Worker<BatchJobData>(
      batchParentQueueName(name, version),
      (job) => this.handOn(job),
      {
        connection,
        prefix: config.KEY_PREFIX,
        lockDuration: config.LOCK_DURATION_MS,
        stalledInterval: config.STALLED_INTERVAL_MS,
      },
    );
    this.worker.on('error', (error) => redisErrors.report(error, 'batch relay error'));
  }

  private async handOn(job: Job<BatchJobData>): Promise<void> {
    await this.finished.add('finished', job.data, finishedBatchOptions(job.data));
  }

  /** Stops taking parents and waits for the one in hand. */
  close(): Promise<void> {
    return closeWhenConnected(this.worker);
  }
}
