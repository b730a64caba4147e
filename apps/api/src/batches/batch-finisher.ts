import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { BATCH_QUEUE } from '@app/common';
import { QueueHub } from '../infra/queue-hub';
import { BatchService } from './batch.service';

/** Processes batch parent jobs, which BullMQ releases once every chunk is done: sums each batch up. */
@Injectable()
export class BatchFinisher implements OnModuleInit {
  private readonly logger = new Logger('BatchFinisher');

  constructor(
    private readonly queues: QueueHub,
    private readonly batches: BatchService,
  ) {}

  onModuleInit(): void {
    this.queues.process<{ batchId: string }>(
      BATCH_QUEUE,
      (job) => this.batches.finish(job.data.batchId),
      2,
      (error) => this.logger.error(error.message),
    );
  }
}
