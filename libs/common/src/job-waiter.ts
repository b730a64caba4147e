import type { EventEmitter } from 'node:events';
import { QueueEvents, type Job } from 'bullmq';
import type { ReplyInbox } from './job-replies';
import { isCluster, type RedisConnection } from './redis';
import type { VersionQueues } from './version-queues';

/** How waiting on a job ended. */
export type JobOutcome =
  | { status: 'completed'; value: unknown }
  | { status: 'failed'; reason: string }
  | { status: 'timeout' };

/** Event listeners kept open at most (each holds a blocking connection). */
const DEFAULT_MAX_LISTENERS = 64;

/**
 * Waits for jobs to finish: the one way a process waits on a job, whether a caller is waiting
 * for a sync answer, for `Prefer: wait`, or for the chunks of a batch being canceled. A job this
 * process put its {@link ReplyInbox.address} in is answered on the process's own reply channel;
 * any other through one QueueEvents listener per queue, each on its own connection, up to a bound.
 */
export class JobWaiter {
  private readonly listeners = new Map<string, Promise<QueueEvents>>();

  constructor(
    private readonly connection: RedisConnection,
    private readonly queues: VersionQueues,
    /** This process's reply channel; without it every wait reads the queue's events. */
    private readonly inbox?: ReplyInbox,
    private readonly maxListeners = DEFAULT_MAX_LISTENERS,
  ) {}

  /** What a job waited on with `replyTo: true` carries as `replyTo`, if this process has one. */
  get replyAddress(): string | undefined {
    return this.inbox?.address;
  }

  /**
   * Resolves when job `id` of queue `name` completes or fails, or after `timeoutMs`.
   * The listener is in place before this reads anything, so an answer cannot slip past:
   * call it before adding the job (then pass `checkFirst: false` to save a read), or for a job
   * that exists already. At the deadline the job is read once more, in case its event never
   * reached this process. With `replyTo`, the job carries {@link replyAddress} and its answer
   * comes on this process's reply channel (the job's state is read again if that channel's
   * subscription was lost meanwhile).
   */
  async wait(
    name: string,
    id: string,
    timeoutMs: number,
    { checkFirst = true, replyTo = false }: { checkFirst?: boolean; replyTo?: boolean } = {},
  ): Promise<JobOutcome> {
    if (timeoutMs <= 0) return this.read(name, id);
    let done!: (outcome: JobOutcome) => void;
    const outcome = new Promise<JobOutcome>((resolve) => (done = resolve));
    const stopListening =
      replyTo && this.inbox
        ? this.inbox.expect(id, {
            answer: done,
            recheck: () =>
              void this.read(name, id).then(
                (now) => now.status !== 'timeout' && done(now),
                () => undefined,
              ),
          })
        : await this.listenFor(name, id, done);
    const timer = setTimeout(() => done({ status: 'timeout' }), timeoutMs);
    try {
      if (checkFirst) {
        const now = await this.read(name, id);
        if (now.status !== 'timeout') done(now);
      }
      const result = await outcome;
      return result.status === 'timeout' ? await this.read(name, id) : result;
    } finally {
      clearTimeout(timer);
      stopListening();
    }
  }

  /** Has the queue's events tell `done` when job `id` finishes, until the returned call. */
  private async listenFor(
    name: string,
    id: string,
    done: (outcome: JobOutcome) => void,
  ): Promise<() => void> {
    // Per-job events (`completed:<id>`) are emitted by QueueEvents but not in its typed map.
    const events = (await this.listener(name)) as unknown as EventEmitter;
    const onCompleted = (args: { returnvalue: unknown }) =>
      done({ status: 'completed', value: args.returnvalue });
    const onFailed = (args: { failedReason: string }) =>
      done({ status: 'failed', reason: args.failedReason });
    events.on(`completed:${id}`, onCompleted);
    events.on(`failed:${id}`, onFailed);
    return () => {
      events.off(`completed:${id}`, onCompleted);
      events.off(`failed:${id}`, onFailed);
    };
  }

  /** The job's outcome as it stands: finished one way or the other, or not yet ('timeout'). */
  private async read(name: string, id: string): Promise<JobOutcome> {
    const job = (await this.queues.queue(name).getJob(id)) as Job | undefined;
    return finishedOutcome(job) ?? { status: 'timeout' };
  }

  /**
   * A running QueueEvents for the queue, reading its event stream from the current last entry.
   * The default ('$') would miss events added between this call and the listener's first
   * blocking read, and a caller waiting on a job that finished in that gap would time out.
   */
  private listener(name: string): Promise<QueueEvents> {
    let listener = this.listeners.get(name);
    if (listener) {
      this.listeners.delete(name);
    } else {
      listener = this.listen(name);
      // One that could not start (Redis away) is forgotten: the next wait starts one anew.
      const started = listener;
      started.catch(() => {
        if (this.listeners.get(name) === started) this.listeners.delete(name);
      });
      if (this.listeners.size >= this.maxListeners) {
        const [oldest, handle] = this.listeners.entries().next().value as [
          string,
          Promise<QueueEvents>,
        ];
        this.listeners.delete(oldest);
        void handle.then((events) => events.close());
      }
    }
    this.listeners.set(name, listener);
    return listener;
  }

  private async listen(name: string): Promise<QueueEvents> {
    // Read on the queues' connection: where that one fails at once while Redis is away (the
    // API's), a wait fails then, instead of waiting on this blocking connection for Redis.
    const queue = this.queues.queue(name);
    const [last] = await (await queue.client).xrevrange(queue.keys.events, '+', '-', 'COUNT', 1);
    const events = new QueueEvents(name, {
      // Options, not a connection: the listener then owns (and closes) its blocking connection.
      // A cluster's options do not make a cluster: BullMQ duplicates (and closes) that one.
      connection: isCluster(this.connection) ? this.connection : { ...this.connection.options },
      prefix: this.queues.prefix,
      lastEventId: last?.[0] ?? '0-0',
    });
    // Its connection's errors (Redis away) are retried by the connection; never fatal.
    events.on('error', () => undefined);
    await events.waitUntilReady();
    return events;
  }

  async close(): Promise<void> {
    const listeners = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.all([...listeners.map(async (l) => (await l).close()), this.inbox?.close()]);
  }
}

/** A finished job's outcome, or undefined while it is not finished (or unknown). */
export function finishedOutcome(job: Job | undefined): JobOutcome | undefined {
  if (!job?.finishedOn) return undefined;
  if (job.failedReason && job.returnvalue == null)
    return { status: 'failed', reason: job.failedReason };
  return { status: 'completed', value: job.returnvalue };
}
