import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { BATCH_QUEUE } from '@app/common';
import { API_CONFIG, type ApiConfig } from '../config';
import { REDIS } from '../infra/shared';
import { BatchService } from './batch.service';

/** Processes batch parent jobs, which BullMQ releases once every chunk is done: sums each batch up. */
@Injectable()
export class BatchFinisher implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('BatchFinisher');
  private worker?: Worker<{ batchId: string }>;

  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly batches: BatchService,
  ) {}

  onModuleInit(): void {
    this.worker = new Worker(BATCH_QUEUE, (job) => this.batches.finish(job.data.batchId), {
      connection: this.redis.duplicate(),
      prefix: this.config.KEY_PREFIX,
      concurrency: 2,
    });
    this.worker.on('error', (error) => this.logger.error(error.message));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.worker?.close();
  }
}
