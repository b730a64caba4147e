import type { EventEmitter } from 'node:events';
import { FlowProducer, Queue, QueueEvents, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ApiConfig } from '../config';

/** How waiting on a job ended. */
export type JobOutcome =
  | { status: 'completed'; value: unknown }
  | { status: 'failed'; reason: string }
  | { status: 'timeout' };

/**
 * The API process's handles on BullMQ: one producer per queue and, for queues whose jobs
 * callers wait on, one QueueEvents listener. Created on first use, closed at shutdown.
 */
export class QueueHub {
  private readonly queues = new Map<string, Queue>();
  private flowProducer?: FlowProducer;
  private readonly workers: Worker[] = [];
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
      events = this.listen(name);
      this.events.set(name, events);
    }
    return events;
  }

  /**
   * Starts reading the queue's event stream from its current last entry. The default ('$')
   * would miss events added between this call and the listener's first blocking read, and a
   * caller waiting on a job that finished in that gap would wait until its timeout.
   */
  private async listen(name: string): Promise<QueueEvents> {
    const stream = `${this.config.KEY_PREFIX}:${name}:events`;
    const [last] = await this.redis.xrevrange(stream, '+', '-', 'COUNT', 1);
    const created = new QueueEvents(name, {
      connection: this.redis.duplicate(),
      prefix: this.config.KEY_PREFIX,
      lastEventId: last?.[0] ?? '0-0',
    });
    await created.waitUntilReady();
    return created;
  }

  /**
   * Resolves when job `id` of the queue completes or fails, or after `timeoutMs`. Call it
   * before adding the job: the listener is then in place before any event can exist. At the
   * deadline the job's state is read once, in case its event never reached this process.
   */
  async waitForJob(name: string, id: string, timeoutMs: number): Promise<JobOutcome> {
    // Per-job events (`completed:<id>`) are emitted by QueueEvents but not in its typed listener map.
    const events = (await this.queueEvents(name)) as unknown as EventEmitter;
    const outcome = await new Promise<JobOutcome>((resolve) => {
      const done = (result: JobOutcome) => {
        clearTimeout(timer);
        events.off(`completed:${id}`, onCompleted);
        events.off(`failed:${id}`, onFailed);
        resolve(result);
      };
      const onCompleted = (args: { returnvalue: unknown }) =>
        done({ status: 'completed', value: args.returnvalue });
      const onFailed = (args: { failedReason: string }) =>
        done({ status: 'failed', reason: args.failedReason });
      const timer = setTimeout(() => done({ status: 'timeout' }), timeoutMs);
      events.on(`completed:${id}`, onCompleted);
      events.on(`failed:${id}`, onFailed);
    });
    if (outcome.status !== 'timeout') return outcome;
    const job = await this.queue(name).getJob(id);
    if (job?.finishedOn && job.returnvalue !== undefined && !job.failedReason)
      return { status: 'completed', value: job.returnvalue };
    return outcome;
  }

  /** Consumes a queue in this process (on its own connection) until `close`. */
  process<T>(
    name: string,
    handle: (job: Job<T>) => Promise<unknown>,
    concurrency: number,
    onError: (error: Error) => void,
  ): void {
    const worker = new Worker<T>(name, handle, {
      connection: this.redis.duplicate(),
      prefix: this.config.KEY_PREFIX,
      concurrency,
    });
    worker.on('error', onError);
    this.workers.push(worker as Worker);
  }

  /** The producer of job flows (a parent job with children), created on first use. */
  flows(): FlowProducer {
    this.flowProducer ??= new FlowProducer({
      connection: this.redis,
      prefix: this.config.KEY_PREFIX,
    });
    return this.flowProducer;
  }

  /** Every queue this process has touched. */
  all(): Queue[] {
    return [...this.queues.values()];
  }

  /** Stops consuming (jobs in hand finish first); producing still works until `close`. */
  async stopProcessing(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }

  async close(): Promise<void> {
    await this.stopProcessing();
    await Promise.all([...this.events.values()].map(async (e) => (await e).close()));
    await Promise.all(this.all().map((q) => q.close()));
    await this.flowProducer?.close();
  }
}
