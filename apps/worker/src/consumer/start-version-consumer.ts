import {
  BATCH_QUEUE,
  SHADOW_QUEUE,
  VersionQueues,
  WEBHOOK_QUEUE,
  JobReplier,
  bulkQueueName,
  type BatchJobData,
  type ShadowComparisonData,
  type WebhookJobData,
} from '@app/common';
import { packingLimits } from '@app/handler/package';
import type { VersionRecord } from '@app/registry';
import { GroupRunner, type PendingJob } from '../batching/group-runner';
import { JobGrouper } from '../batching/job-grouper';
import { ResultCache } from '../batching/result-cache';
import { ThreadRecovery } from '../runtime/thread-recovery';
import { ShadowAnnouncer } from '../shadow-announcer';
import { ThroughputMeter } from '../throughput-meter';
import { WebhookAnnouncer } from '../webhook-announcer';
import { BatchRelay } from './batch-relay';
import type { ConsumerContext } from './consumer-context';
import { JobEvents } from './job-events';
import { JobIntake } from './job-intake';
import { JobsInHand } from './jobs-in-hand';
import { VersionConsumer } from './version-consumer';
import { VersionThread } from './version-thread';

/**
 * Builds the consumer of one model version and everything it works with, in this one place,
 * then loads and warms the model in its thread and starts consuming the version's queues.
 * Throws (having closed what it opened) when the model does not load.
 */
export async function startVersionConsumer(
  record: VersionRecord,
  context: ConsumerContext,
): Promise<VersionConsumer> {
  const { config, metrics } = context;
  const labels = { model: record.name, version: record.version };
  const log = context.logger.child(labels);
  const limits = packingLimits(record.manifest.batching);
  const queues = new VersionQueues(context.connection, config.KEY_PREFIX, (error) =>
    context.redisErrors.report(error, 'queue error'),
  );
  const events = new JobEvents(
    labels,
    metrics,
    context.starts,
    new WebhookAnnouncer(
      config.WEBHOOKS_ENABLED ? queues.queue<WebhookJobData>(WEBHOOK_QUEUE) : undefined,
      config,
      log,
    ),
    new ShadowAnnouncer(queues.queue<ShadowComparisonData>(SHADOW_QUEUE), log),
    log,
    new JobReplier(context.connection, config.KEY_PREFIX),
  );
  const throughput = new ThroughputMeter();
  const thread = new VersionThread(record, config, limits, log, (error) =>
    recovery.threadDied(error),
  );
  const runner = new GroupRunner(
    () => thread.client,
    labels,
    config.WORKER_ID,
    metrics,
    throughput,
    log,
    {
      origin: () => ({
        model: record.name,
        version: record.version,
        package_sha256: record.packageSha256 ?? null,
        provider: thread.client.runtime.provider,
        precision: record.manifest.precision,
      }),
      cache: record.cacheTtlS
        ? new ResultCache(context.connection, config.KEY_PREFIX, record, record.cacheTtlS, log)
        : undefined,
    },
  );
  const grouper = new JobGrouper<PendingJob>(
    {
      maxGroupTexts: limits.maxBatchSize * config.GROUP_BATCHES,
      // At most one batch of bulk work per group (a chunk goes alone), and small bulk jobs
      // (shadow copies) still share a forward pass; the thread runs bulk groups a pass at a
      // time behind online groups.
      maxBulkGroupTexts: limits.maxBatchSize,
      maxBulkInFlight: config.BULK_GROUPS_IN_FLIGHT,
      maxDelayMs: record.manifest.batching.max_batch_delay_ms,
      gapMs: config.BATCH_GAP_MS,
    },
    (group) => {
      context.starts.report(group.map((p) => p.job));
      return runner.run(group);
    },
    undefined,
    (late) => late.forEach((pending) => pending.reject(events.expired(pending.job))),
  );
  const recovery: ThreadRecovery = new ThreadRecovery(labels, context, log, {
    handBack: () => consumer.handBack(),
    restart: () => thread.start(),
    resume: (client) => consumer.resume(client),
    closing: () => consumer.closed,
  });
  const consumer: VersionConsumer = new VersionConsumer(record, {
    queues,
    thread,
    recovery,
    inHand: new JobsInHand(grouper, events, throughput, bulkQueueName(record.name, record.version)),
    runner,
    throughput,
    metrics,
    openIntake: (process) => new JobIntake(record, context, process, log, events),
    openRelay: () => new BatchRelay(record, context, queues.queue<BatchJobData>(BATCH_QUEUE)),
    log,
  });
  await consumer.open();
  return consumer;
}
