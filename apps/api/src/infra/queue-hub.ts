import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ApiConfig } from '../config';

/**
 * The API process's handles on BullMQ: one producer per queue and, for queues whose jobs
 * callers wait on, one QueueEvents listener. Created on first use, closed at shutdown.
 */
export class QueueHub {
  private readonly queues = new Map<string, Queue>();
  private readonly events = new Map<string, Promise<QueueEvents>>();

  constructor(
    private readonly redis: Redis,
    private readonly config: ApiConfig,
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

  async close(): Promise<void> {
    await Promise.all([...this.events.values()].map(async (e) => (await e).close()));
    await Promise.all(this.all().map((q) => q.close()));
  }
}
