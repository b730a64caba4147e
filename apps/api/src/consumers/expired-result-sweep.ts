import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { ResultExpiry, VersionQueues, isRedisUnavailable } from '@app/common';
import { ModelRegistry } from '@app/registry';
import { API_CONFIG, type ApiConfig } from '../config';
import { resultKeeping, sweepIntervalMs } from '../predictions/result-keeping';

/**
 * Removes the finished prediction jobs kept shorter than their queue's BullMQ age (sync calls,
 * under the default settings) once they have been finished for their own TTL, in the queues of
 * every registered version. Every API process sweeps: the index lives in Redis (a restart loses
 * nothing), and sweeps of several processes at once share the work (see `ResultExpiry`). One
 * pass at a time, the next an interval after the last one ended.
 */
@Injectable()
export class ExpiredResultSweep implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly expiry = new ResultExpiry();
  private timer?: NodeJS.Timeout;
  private pass?: Promise<void>;
  private stopped = false;

  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly registry: ModelRegistry,
    private readonly queues: VersionQueues,
    private readonly logger: PinoLogger,
  ) {}

  onApplicationBootstrap(): void {
    const { short } = resultKeeping(this.config);
    if (short) this.schedule(short.keepS);
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.pass;
  }

  private schedule(keepS: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.pass = this.sweep(keepS).finally(() => this.schedule(keepS));
    }, sweepIntervalMs(keepS));
    this.timer.unref();
  }

  /** One pass over the online queues of every registered version; errors are logged, not thrown. */
  private async sweep(keepS: number): Promise<void> {
    try {
      for (const model of await this.registry.listModels()) {
        for (const { name, version } of model.versions) {
          if (this.stopped) return;
          await this.expiry.sweep(this.queues.online(name, version), keepS);
        }
      }
    } catch (error) {
      // A lost connection is reported once by its owner (see main.ts); the next pass tries again.
      if (!isRedisUnavailable(error))
        this.logger.warn({ err: error }, 'cannot sweep expired results');
    }
  }
}
