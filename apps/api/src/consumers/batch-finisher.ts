import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import type { Job } from 'bullmq';
import { PinoLogger } from 'nestjs-pino';
import { BATCH_QUEUE, isRedisUnavailable } from '@app/common';
import { BatchService } from '../batches/batch.service';

/** Sums up each finished batch, which a worker of its version announces on the `{batches}` queue. */
@Processor(BATCH_QUEUE, { concurrency: 2 })
export class BatchFinisher extends WorkerHost {
  constructor(
    private readonly batches: BatchService,
    private readonly logger: PinoLogger,
  ) {
    super();
  }

  process(job: Job<{ batchId: string }>): Promise<void> {
    return this.batches.finish(job.data.batchId);
  }

  @OnWorkerEvent('error')
  onError(error: Error): void {
    // A lost connection is reported once by its owner (see main.ts), not by every consumer.
    if (isRedisUnavailable(error)) return;
    this.logger.error({ err: error }, 'batch queue consumer error');
  }
}
