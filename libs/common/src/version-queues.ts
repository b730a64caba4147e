import { FlowProducer, Queue, type JobType } from 'bullmq';
import { bulkQueueName, predictionQueueName } from './queues';
import type { RedisConnection } from './redis';

/** Job counts of one queue, by the states that make up a backlog. */
export interface QueueCounts {
  waiting: number;
  prioritized: number;
  delayed: number;
  active: number;
}

/**
 * The work standing before a model version, online and bulk together. This is the one
 * definition of a backlog: the API's metrics and model descriptions, the supervisor's scaling
 * and a worker's drain all read it.
 */
export interface Backlog {
  online: QueueCounts;
  bulk: QueueCounts;
  /** Jobs not yet taken by a worker (waiting, prioritized, or delayed for a retry). */
  queued: number;
  /** Jobs in a worker's hands. */
  active: number;
}

const BACKLOG_STATES: JobType[] = ['waiting', 'prioritized', 'delayed', 'active'];

/** Handles kept open at most; the least recently used one is closed past this. */
const DEFAULT_MAX_HANDLES = 256;

/**
 * Producer handles on the queues of model versions (and the process's other queues), all on one
 * connection and key prefix. Handles are cached, up to a bound, so that a process never keeps
 * one per name it has ever seen.
 */
export class VersionQueues {
  private readonly handles = new Map<string, Queue>();
  private flowHandle: FlowProducer | undefined;

  /**
   * `onError` hears the errors of every handle (a lost connection, mostly: the owner of the
   * connection reports those already, so the default ignores them). Without a listener, such an
   * error would take the process down.
   */
  constructor(
    private readonly connection: RedisConnection,
    readonly prefix: string,
    private readonly onError: (error: Error) => void = () => undefined,
    private readonly maxHandles = DEFAULT_MAX_HANDLES,
  ) {}

  /** The queue of a version's online prediction jobs. */
  online<T = unknown>(model: string, version: string): Queue<T> {
    return this.queue<T>(predictionQueueName(model, version));
  }

  /** The queue of a version's bulk-scoring chunks. */
  bulk<T = unknown>(model: string, version: string): Queue<T> {
    return this.queue<T>(bulkQueueName(model, version));
  }

  /** A queue by name, from the cache (most recently used last). */
  queue<T = unknown>(name: string): Queue<T> {
    let queue = this.handles.get(name);
    if (queue) {
      this.handles.delete(name);
    } else {
      // Not waiting for the connection to be ready: on a fail-fast connection, a handle first
      // made while Redis is away would otherwise wait for it to come back, and so would every
      // call on it. Its start then fails, and the handle is dropped so the next call makes anew.
      queue = new Queue(name, {
        connection: this.connection,
        prefix: this.prefix,
        skipWaitingForReady: true,
      });
      queue.on('error', this.onError);
      const made = queue;
      made.waitUntilReady().catch(() => this.drop(name, made));
      if (this.handles.size >= this.maxHandles) {
        const [oldest, handle] = this.handles.entries().next().value as [string, Queue];
        this.handles.delete(oldest);
        void handle.close();
      }
    }
    this.handles.set(name, queue);
    return queue as Queue<T>;
  }

  /**
   * The producer of flows (a parent job and its children), made on first use and kept, like a
   * queue handle: one whose start failed (BullMQ reads the server's version when a handle
   * starts; on a fail-fast connection a Redis that answers late fails that read) is dropped, so
   * the next call makes anew. Made once and kept whatever happened, it would fail every call
   * after one late answer, at once and for the life of the process.
   */
  flows(): FlowProducer {
    if (this.flowHandle) return this.flowHandle;
    const made = new FlowProducer({
      connection: this.connection,
      prefix: this.prefix,
      skipWaitingForReady: true,
    });
    made.on('error', this.onError);
    this.flowHandle = made;
    made.waitUntilReady().catch(() => {
      if (this.flowHandle === made) this.flowHandle = undefined;
      void made.close().catch(() => undefined);
    });
    return made;
  }

  /** Forgets (and closes) a handle whose start failed, unless another took its place. */
  private drop(name: string, queue: Queue): void {
    if (this.handles.get(name) === queue) this.handles.delete(name);
    void queue.close().catch(() => undefined);
  }

  /** The version's backlog, online and bulk. */
  async backlog(model: string, version: string): Promise<Backlog> {
    const [online, bulk] = await Promise.all([
      this.counts(predictionQueueName(model, version)),
      this.counts(bulkQueueName(model, version)),
    ]);
    return {
      online,
      bulk,
      queued:
        online.waiting +
        online.prioritized +
        online.delayed +
        bulk.waiting +
        bulk.prioritized +
        bulk.delayed,
      active: online.active + bulk.active,
    };
  }

  /** When the oldest job not yet taken was created, or undefined when none waits. */
  async oldestQueuedAt(model: string, version: string): Promise<number | undefined> {
    let oldest: number | undefined;
    for (const queue of [this.online(model, version), this.bulk(model, version)]) {
      const [job] = await queue.getJobs(['waiting', 'prioritized'], 0, 0, true);
      if (job) oldest = Math.min(oldest ?? job.timestamp, job.timestamp);
    }
    return oldest;
  }

  private async counts(name: string): Promise<QueueCounts> {
    const counts = await this.queue(name).getJobCounts(...BACKLOG_STATES);
    return {
      waiting: counts.waiting ?? 0,
      prioritized: counts.prioritized ?? 0,
      delayed: counts.delayed ?? 0,
      active: counts.active ?? 0,
    };
  }

  /** Closes every handle; the connection stays open (it is the caller's). */
  async close(): Promise<void> {
    const handles: (Queue | FlowProducer)[] = [...this.handles.values()];
    if (this.flowHandle) handles.push(this.flowHandle);
    this.handles.clear();
    this.flowHandle = undefined;
    await Promise.all(handles.map((q) => q.close()));
  }
}
