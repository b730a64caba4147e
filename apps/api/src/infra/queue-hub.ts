import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { API_CONFIG, type ApiConfig } from '../config';
import { REDIS } from './shared';

/**
 * The API's handles on BullMQ: one producer per queue and, for queues whose jobs callers wait
 * on, one QueueEvents listener. Created on first use, closed at shutdown.
 */
@Injectable()
export class QueueHub implements OnApplicationShutdown {
  private readonly queues = new Map<string, Queue>();
  private readonly events = new Map<string, Promise<QueueEvents>>();

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
  ) {}

  queue<T = unknown>(name: string): Queue<T> {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, { connection: this.redis, prefix: this.config.KEY_PREFIX });
      this.queues.set(name, queue);
    }
    return queue as Queue<T>;
  }

  /** A running QueueEvents for the queue (it needs its own blocking connection). */
  queueEvents(name: string): Promise<QueueEvents> {
    let events = this.events.get(name);
    if (!events) {
      const created = new QueueEvents(name, {
        connection: this.redis.duplicate(),
        prefix: this.config.KEY_PREFIX,
      });
      events = created.waitUntilReady().then(() => created);
      this.events.set(name, events);
    }
    return events;
  }

  /** Every queue this process has touched. */
  all(): Queue[] {
    return [...this.queues.values()];
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([...this.events.values()].map(async (e) => (await e).close()));
    await Promise.all(this.all().map((q) => q.close()));
  }
}
