import { Inject, Injectable, type OnApplicationShutdown, type Provider } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { connectRedis } from '@app/common';
import { ModelRegistry } from '@app/registry';
import { API_CONFIG, type ApiConfig } from '../config';

/** Injection token of the shared Redis connection. */
export const REDIS = Symbol('REDIS');

@Injectable()
class RedisCloser implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}
  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

export const infraProviders: Provider[] = [
  {
    provide: REDIS,
    inject: [API_CONFIG],
    useFactory: (config: ApiConfig) => connectRedis(config.REDIS_URL),
  },
  {
    provide: ModelRegistry,
    inject: [REDIS, API_CONFIG],
    useFactory: (redis: Redis, config: ApiConfig) => new ModelRegistry(redis, config.KEY_PREFIX),
  },
  RedisCloser,
];
