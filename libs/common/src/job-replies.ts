import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import { finishedOutcome, type JobOutcome } from './job-waiter';
import type { RedisConnection } from './redis';

/** What a worker publishes to the API process waiting for a job: the job's final outcome. */
export interface JobReply {
  id: string;
  outcome: JobOutcome;
}

/** The pub/sub channel of API process `address` (see {@link ReplyInbox}). */
export function replyChannel(prefix: string, address: string): string {
  return `${prefix}:replies:${address}`;
}

/**
 * Publishes a finished job's outcome to the API process its data names (`replyTo`), after BullMQ
 * has recorded it: a reply nobody hears (that process is gone, a failover dropped it) loses
 * nothing, the job's state stays the record. Returns whether a subscriber heard it.
 */
export async function publishJobReply(
  connection: RedisConnection,
  prefix: string,
  job: Job<{ replyTo?: string }>,
): Promise<boolean | undefined> {
  const address = job.data.replyTo;
  const outcome = finishedOutcome(job);
  if (!address || !job.id || !outcome) return undefined;
  const reply: JobReply = { id: job.id, outcome };
  const heard = await connection.publish(replyChannel(prefix, address), JSON.stringify(reply));
  return heard > 0;
}

/** A caller of {@link ReplyInbox.expect}: its answer, and a re-read of the job's state. */
export interface ExpectedReply {
  answer(outcome: JobOutcome): void;
  /** The subscription was lost and is back: a reply may have gone by, read the job's state. */
  recheck(): void;
}

/**
 * This API process's reply channel: jobs it waits on carry its {@link address}, and the worker
 * that finishes one publishes the outcome here alone, so a process reads only its own answers.
 * One subscriber connection; after it reconnects, every caller re-reads its job's state.
 */
export class ReplyInbox {
  /** A random id of this process, put in the jobs it waits on as `replyTo`. */
  readonly address = randomUUID();
  private readonly expected = new Map<string, ExpectedReply>();
  private subscriber?: RedisConnection;
  private subscribed = false;

  constructor(
    private readonly connection: RedisConnection,
    private readonly prefix: string,
    /** Told of each reply read: whether a caller was waiting for it. */
    private readonly onReply: (awaited: boolean) => void = () => undefined,
  ) {}

  /** Subscribes to the channel; resolves once Redis has confirmed it. */
  async open(): Promise<void> {
    const subscriber = this.connection.duplicate();
    this.subscriber = subscriber;
    // Its errors (Redis away) are retried by the connection; never fatal.
    subscriber.on('error', () => undefined);
    subscriber.on('message', (_channel: string, message: string) => this.read(message));
    subscriber.on('close', () => (this.subscribed = false));
    subscriber.on('ready', () => void this.resubscribe());
    await this.resubscribe();
  }

  /**
   * Routes the reply of job `id` to `caller` until the returned function is called. Call it
   * before the job can finish, or read the job's state once after.
   */
  expect(id: string, caller: ExpectedReply): () => void {
    this.expected.set(id, caller);
    return () => {
      if (this.expected.get(id) === caller) this.expected.delete(id);
    };
  }

  async close(): Promise<void> {
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    if (subscriber) await subscriber.quit().catch(() => subscriber.disconnect());
  }

  /** Confirms the subscription (again, after a reconnect) and has callers re-read their jobs. */
  private async resubscribe(): Promise<void> {
    const subscriber = this.subscriber;
    if (!subscriber || this.subscribed) return;
    const callers = [...this.expected.values()];
    try {
      await subscriber.subscribe(replyChannel(this.prefix, this.address));
    } catch {
      return; // the connection went again: its next 'ready' comes back here
    }
    this.subscribed = true;
    for (const caller of callers) caller.recheck();
  }

  private read(message: string): void {
    let reply: JobReply;
    try {
      reply = JSON.parse(message) as JobReply;
    } catch {
      return;
    }
    const caller = this.expected.get(reply.id);
    this.onReply(caller !== undefined);
    caller?.answer(reply.outcome);
  }
}
