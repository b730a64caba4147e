import { Inject, Injectable } from '@nestjs/common';
import type { WebhookEvent, RedisConnection } from '@app/common';
import { API_CONFIG, type ApiConfig } from '../config';
import { REDIS } from '../core/core.module';

/** Delivery state of a prediction's webhook, as the prediction resource shows it. */
export interface WebhookStatus {
  url: string;
  events: WebhookEvent[];
  /** pending: nothing sent yet; retrying: last attempt failed; dead_letter: attempts exhausted. */
  status: 'pending' | 'delivered' | 'retrying' | 'dead_letter';
  /** Attempts made to deliver the latest event (1 when it went through the first time). */
  attempts: number;
  /** The event the latest delivery announced. */
  event?: WebhookEvent;
  last_status_code?: number;
  last_error?: string;
  delivered_at?: string;
}

/** The delivery state of each prediction's webhook, in Redis. */
@Injectable()
export class WebhookDeliveryStore {
  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    @Inject(REDIS) private readonly redis: RedisConnection,
  ) {}

  private key(id: string): string {
    return `${this.config.KEY_PREFIX}:webhook:${id}`;
  }

  async init(id: string, webhook: { url: string; events: WebhookEvent[] }): Promise<void> {
    await this.redis
      .multi()
      .hset(this.key(id), {
        url: webhook.url,
        events: webhook.events.join(','),
        status: 'pending',
        attempts: 0,
      })
      .expire(this.key(id), this.config.RESULT_TTL_S)
      .exec();
  }

  async read(id: string): Promise<WebhookStatus | undefined> {
    const raw = await this.redis.hgetall(this.key(id));
    if (!raw.url) return undefined;
    return {
      url: raw.url,
      events: raw.events.split(',') as WebhookEvent[],
      status: raw.status as WebhookStatus['status'],
      attempts: Number(raw.attempts),
      ...(raw.event ? { event: raw.event as WebhookEvent } : {}),
      ...(raw.last_status_code ? { last_status_code: Number(raw.last_status_code) } : {}),
      ...(raw.last_error ? { last_error: raw.last_error } : {}),
      ...(raw.delivered_at ? { delivered_at: raw.delivered_at } : {}),
    };
  }

  /** Records one delivery attempt (the `attempt`th of its event) and what came of it. */
  async record(
    id: string,
    outcome: {
      status: WebhookStatus['status'];
      event: WebhookEvent;
      attempt: number;
      statusCode?: number;
      error?: string;
    },
  ): Promise<void> {
    const fields: Record<string, string> = {
      status: outcome.status,
      event: outcome.event,
      attempts: String(outcome.attempt),
    };
    if (outcome.statusCode) fields.last_status_code = String(outcome.statusCode);
    if (outcome.error) fields.last_error = outcome.error;
    if (outcome.status === 'delivered') fields.delivered_at = new Date().toISOString();
    await this.redis.hset(this.key(id), fields);
  }
}
