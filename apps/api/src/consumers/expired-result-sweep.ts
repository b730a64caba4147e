import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import {
  BATCH_QUEUE,
  ResultExpiry,
  VersionQueues,
  WEBHOOK_QUEUE,
  batchParentQueueName,
  isRedisUnavailable,
  trimFinished,
} from '@app/common';
import { ModelRegistry } from '@app/registry';
import { API_CONFIG, type ApiConfig } from '../config';
import { resultKeeping, sweepIntervalMs, type ResultKeeping } from '../predictions/result-keeping';
import { RetiredVersions } from './retired-versions';

/**
 * Keeps finished jobs for their own time, in the queues of every registered version and of every
 * unregistered one: removes the finished prediction jobs kept shorter than their queue's BullMQ
 * age (sync calls, under the default settings) once they have been finished for their own TTL,
 * and the finished jobs of every queue past the age they carry (see `trimFinished`: BullMQ trims
 * a queue only as another of its jobs finishes). Every API process sweeps: the index lives in
 * Redis (a restart loses nothing), and sweeps of several processes at once share the work (see
 * `ResultExpiry`). One pass at a time, the next an interval after the last one ended.
 */
@Injectable()
export class ExpiredResultSweep implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly expiry = new ResultExpiry();
  private timer?: NodeJS.Timeout;
  private pass?: Promise<void>;
  private stopped = false;
  /** How long each kind of finished job is kept: the settings do not change while it runs. */
  private readonly keeping: ResultKeeping;
  /** Between passes: a fraction of the shortest time a finished job is kept. */
  private readonly intervalMs: number;

  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly registry: ModelRegistry,
    private readonly queues: VersionQueues,
    private readonly retired: RetiredVersions,
    private readonly logger: PinoLogger,
  ) {
    this.keeping = resultKeeping(config);
    const shortest = Math.min(this.keeping.short?.keepS ?? Infinity, config.RESULT_TTL_S);
    this.intervalMs = sweepIntervalMs(shortest);
  }

  onApplicationBootstrap(): void {
    this.schedule();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.pass;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.pass = this.sweep().finally(() => this.schedule());
    }, this.intervalMs);
    this.timer.unref();
  }

  /**
   * A version's queues: its short-lived prediction jobs after their own TTL, and every finished
   * job past the age its queue's jobs carry (prediction jobs the longer TTL, batch chunks and
   * parents RESULT_TTL_S).
   */
  private async sweepVersion({ name, version }: { name: string; version: string }): Promise<void> {
    const { keeping } = this;
    const online = this.queues.online(name, version);
    if (keeping.short) await this.expiry.sweep(online, keeping.short.keepS);
    await trimFinished(online, keeping.queueAgeS);
    await trimFinished(this.queues.bulk(name, version), this.config.RESULT_TTL_S);
    const parents = this.queues.queue(batchParentQueueName(name, version));
    await trimFinished(parents, this.config.RESULT_TTL_S);
  }

  /**
   * One pass over the queues of every version, registered or not, and the webhook and
   * finished-batch queues; errors are logged, not thrown.
   */
  private async sweep(): Promise<void> {
    try {
      const registered = (await this.registry.listModels()).flatMap((model) => model.versions);
      for (const version of [...registered, ...(await this.retired.list())]) {
        if (this.stopped) return;
        await this.sweepVersion(version);
      }
      const ttlS = this.config.RESULT_TTL_S;
      await trimFinished(this.queues.queue(WEBHOOK_QUEUE), ttlS);
      // A summed-up batch's job is gone at once; one that failed is kept as long as its batch.
      await trimFinished(this.queues.queue(BATCH_QUEUE), ttlS, ['failed']);
    } catch (error) {
      // A lost connection is reported once by its owner (see main.ts); the next pass tries again.
      if (!isRedisUnavailable(error))
        this.logger.warn({ err: error }, 'cannot sweep expired results');
    }
  }
}
