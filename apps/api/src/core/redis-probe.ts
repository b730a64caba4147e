import { Inject, Injectable } from '@nestjs/common';
import type { RedisConnection } from '@app/common';
import { REDIS } from './core.module';

/** Whether Redis answers: the probe behind readiness. */
@Injectable()
export class RedisProbe {
  constructor(@Inject(REDIS) private readonly redis: RedisConnection) {}

  /** Undefined when Redis answers, else why not. */
  async problem(): Promise<string | undefined> {
    try {
      await this.redis.ping();
      return undefined;
    } catch (error) {
      return `Redis is unreachable: ${(error as Error).message}`;
    }
  }
}
