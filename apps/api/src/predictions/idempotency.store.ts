import { Inject, Injectable } from '@nestjs/common';
import type { RedisConnection } from '@app/common';
import { API_CONFIG, type ApiConfig } from '../config';
import { REDIS } from '../core/core.module';
import { Problem } from '../core/problem';

/**
 * `Idempotency-Key` support: the first request with a key claims it for a prediction id;
 * a retry with the same key and body gets that id back, the same key with another body a 422.
 */
@Injectable()
export class IdempotencyStore {
  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    @Inject(REDIS) private readonly redis: RedisConnection,
  ) {}

  /** Claims `key` for `id`; returns the id already holding it, or undefined if this call won. */
  async claim(key: string, fingerprint: string, id: string): Promise<string | undefined> {
    if (key.length > 255)
      throw new Problem(400, 'Invalid request', 'Idempotency-Key is longer than 255 characters');
    const redisKey = this.key(key);
    const claimed = await this.redis.set(
      redisKey,
      `${fingerprint}:${id}`,
      'EX',
      this.config.IDEMPOTENCY_TTL_S,
      'NX',
    );
    if (claimed) return undefined;
    const existing = await this.redis.get(redisKey);
    const [storedFingerprint, storedId] = (existing ?? '').split(':');
    if (storedFingerprint !== fingerprint) {
      throw new Problem(
        422,
        'Idempotency key reused',
        `Idempotency-Key "${key}" was used with a different body`,
      );
    }
    return storedId;
  }

  /** Frees a key whose prediction could not be created, so a retry can claim it. */
  async release(key: string): Promise<void> {
    await this.redis.del(this.key(key));
  }

  private key(idempotencyKey: string): string {
    return `${this.config.KEY_PREFIX}:idempotency:${idempotencyKey}`;
  }
}
