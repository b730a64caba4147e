import { BullModule } from '@nestjs/bullmq';
import { QueueEstimates } from '../core/queue-estimates';
import { Module } from '@nestjs/common';
import { BATCH_QUEUE } from '@app/common';
import { WebhooksModule } from '../webhooks/webhooks.module';
import { BatchFlow } from './batch-flow';
import { BatchService } from './batch.service';
import { BatchStore } from './batch.store';
import { BatchesController } from './batches.controller';

/** Bulk scoring of CSV or JSONL datasets. */
@Module({
  imports: [WebhooksModule, BullModule.registerQueue({ name: BATCH_QUEUE })],
  controllers: [BatchesController],
  providers: [BatchService, BatchStore, BatchFlow, QueueEstimates],
  exports: [BatchService],
})
export class BatchesModule {}
