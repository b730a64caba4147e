import { BullModule } from '@nestjs/bullmq';
import { QueueEstimates } from '../core/queue-estimates';
import { Module } from '@nestjs/common';
import { BATCH_QUEUE, type RedisConnection } from '@app/common';
import { REDIS } from '../core/core.module';
import { WebhooksModule } from '../webhooks/webhooks.module';
import { BatchFlow } from './batch-flow';
import { BatchService } from './batch.service';
import { BatchStore } from './batch.store';
import { BatchesController } from './batches.controller';

/** Bulk scoring of CSV or JSONL datasets. */
@Module({
  imports: [
    WebhooksModule,
    BullModule.registerQueue({ name: BATCH_QUEUE }),
    // Flows are added while a request waits: on the connection that fails at once while Redis is
    // away (the queue's consumer keeps the one that waits for it).
    BullModule.registerFlowProducerAsync({
      name: BATCH_QUEUE,
      inject: [REDIS],
      useFactory: (redis: RedisConnection) => ({ connection: redis }),
    }),
  ],
  controllers: [BatchesController],
  providers: [BatchService, BatchStore, BatchFlow, QueueEstimates],
  exports: [BatchService],
})
export class BatchesModule {}
