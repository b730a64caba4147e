import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { UnrecoverableError, Worker, type Job, type Queue } from 'bullmq';
import {
  BATCH_QUEUE,
  VERSION_UNREGISTERED,
  VersionQueues,
  batchParentQueueName,
  dropEmptyQueue,
  finishedBatchOptions,
  publishJobReply,
  type BatchJobData,
  type PredictionJobData,
  type RedisConnection,
} from '@app/common';
import { ModelRegistry, versionKey } from '@app/registry';
import { API_CONFIG, type ApiConfig } from '../config';
import { CONSUMER_REDIS } from '../core/core.module';
import { WebhookAnnouncer } from '../webhooks/webhook-announcer';

/** A version unregistered and not registered again. */
export interface RetiredVersion {
  name: string;
  version: string;
  /** When it was unregistered (ISO 8601). */
  at: string;
}

/** What settling a retired version's queues did. */
export interface Settled {
  /** Jobs failed as {@link VERSION_UNREGISTERED}. */
  failed: number;
  /** Batch parents handed on to the finished-batch queue. */
  handedOn: number;
  /** Whether its queues held no job any more, and their keys were removed. */
  dropped: boolean;
}

/**
 * The queues of unregistered versions. A version's workers drain its queues before they stop
 * (DRAIN_QUIET_MS); what no live worker drains (none served the version, or its workers died
 * before the drain ended) would wait for ever, its callers until their timeout. So once no live
 * worker serves an unregistered version, what is left on its queues is ended here: every job no
 * worker holds fails for good as `version_unregistered` (its waiting caller is answered on its
 * reply channel, its `completed` webhook announced), the batch parents this releases are handed
 * on to be summed up (as a worker's BatchRelay does), and once its queues hold no job at all
 * (their finished jobs removed after their age, see ExpiredResultSweep) their keys go too.
 */
@Injectable()
export class RetiredVersions {
  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    @Inject(CONSUMER_REDIS) private readonly connection: RedisConnection,
    private readonly registry: ModelRegistry,
    private readonly queues: VersionQueues,
    private readonly webhooks: WebhookAnnouncer,
  ) {}

  /** The versions unregistered and not registered again. */
  async list(): Promise<RetiredVersion[]> {
    const marks = await this.registry.unregisteredVersions();
    return marks.map(({ name, version, mark }) => ({ name, version, at: mark.at }));
  }

  /**
   * Ends what is left on the queues of `retired` when no live worker serves it (one that does
   * drains them); `live` is the live workers per version, read once per pass.
   */
  async settle(retired: RetiredVersion, live: Map<string, number>): Promise<Settled> {
    const settled: Settled = { failed: 0, handedOn: 0, dropped: false };
    const { name, version } = retired;
    if (live.get(versionKey(name, version))) return settled;
    const online = this.queues.online<PredictionJobData>(name, version);
    const bulk = this.queues.bulk<PredictionJobData>(name, version);
    const parents = this.queues.queue<BatchJobData>(batchParentQueueName(name, version));
    // Registered again since the pass listed it: its workers are about to serve it.
    if (!(await this.registry.unregisteredVersion(name, version))) return settled;
    settled.failed += await this.takeEach(online, (job, token) => this.fail(job, token));
    settled.failed += await this.takeEach(bulk, (job, token) => this.fail(job, token));
    settled.handedOn = await this.takeEach(parents, (job, token) => this.handOn(job, token));
    if (!(await this.registry.unregisteredVersion(name, version))) return settled;
    const dropped = await Promise.all([online, bulk, parents].map((q) => dropEmptyQueue(q)));
    settled.dropped = dropped.every(Boolean);
    return settled;
  }

  /**
   * Takes the jobs of `queue` that wait for a worker (waiting or prioritized; delayed ones once
   * due, and active ones once BullMQ finds them stalled, their worker gone), one at a time, and
   * ends each with `end`. Resolves with how many it took. Nothing is done, and no connection
   * opened, while none waits.
   */
  private async takeEach<T>(
    queue: Queue<T>,
    end: (job: Job<T>, token: string) => Promise<void>,
  ): Promise<number> {
    const counts = await queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active');
    if (Object.values(counts).every((n) => !n)) return 0;
    const taker = new Worker<T>(queue.name, null, {
      connection: this.connection,
      prefix: this.config.KEY_PREFIX,
      autorun: false,
    });
    // A lost connection is reported once by its owner (see main.ts); the next pass tries again.
    taker.on('error', () => undefined);
    const token = randomUUID();
    let taken = 0;
    try {
      // Jobs left active by a worker that died come back once BullMQ finds them stalled.
      if (counts.active) await taker.startStalledCheckTimer();
      for (;;) {
        const job = (await taker.getNextJob(token, { block: false })) as Job<T> | undefined;
        if (!job) return taken;
        await end(job, token);
        taken++;
      }
    } finally {
      await taker.close();
    }
  }

  private async fail(job: Job<PredictionJobData>, token: string): Promise<void> {
    await job.moveToFailed(new UnrecoverableError(VERSION_UNREGISTERED), token);
    // As a worker does: the waiting caller hears the failure, the webhook announces it.
    await publishJobReply(this.connection, this.config.KEY_PREFIX, job);
    const webhook = job.data.webhook;
    if (webhook?.events.includes('completed'))
      await this.webhooks.prediction(job.id!, webhook.url, 'completed');
  }

  private async handOn(job: Job<BatchJobData>, token: string): Promise<void> {
    const finished = this.queues.queue<BatchJobData>(BATCH_QUEUE);
    await finished.add('finished', job.data, finishedBatchOptions(job.data));
    await job.moveToCompleted(null, token, false);
  }
}
