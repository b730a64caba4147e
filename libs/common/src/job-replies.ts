import { createHash, randomUUID } from 'node:crypto';
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

/**
 * Publishes the outcome Redis has recorded for job ARGV[1] (KEYS[1] its hash, KEYS[2] and KEYS[3]
 * its queue's completed and failed sets) on channel ARGV[2], built from the recorded fields as
 * {@link finishedOutcome} reads them. Returns the subscribers that heard it, or -1 (nothing
 * published) while the job is not recorded as finished.
 */
const PUBLISH_RECORDED = `
local id = ARGV[1]
local fields = redis.call('HMGET', KEYS[1], 'returnvalue', 'failedReason')
local message
if redis.call('ZSCORE', KEYS[2], id) then
  message = '{"status":"completed","value":' .. (fields[1] or 'null') .. '}'
elseif redis.call('ZSCORE', KEYS[3], id) then
  message = '{"status":"failed","reason":' .. cjson.encode(fields[2] or '') .. '}'
else
  return -1
end
return redis.call('PUBLISH', ARGV[2], '{"id":' .. cjson.encode(id) .. ',"outcome":' .. message .. '}')
`;
const PUBLISH_RECORDED_SHA = createHash('sha1').update(PUBLISH_RECORDED).digest('hex');

/** The parts of a BullMQ worker a {@link JobReplier} uses: its connection and its queue's keys. */
export interface FinishingWorker {
  readonly client: Promise<RedisConnection>;
  /** A key of its queue: `completed`, `failed`, or a job's id (its hash). */
  toKey(type: string): string;
}

/**
 * A worker's replies to the API processes waiting for its jobs, sent in the round trip that
 * records the job. As a job's processor settles, BullMQ sends the job's finish (`moveToFinished`)
 * on the worker's connection within the same turn of the event loop; {@link followFinish} sends,
 * on the next turn and on that same connection, a script that publishes the outcome Redis then
 * holds for the job. Redis runs a connection's commands in order, so the reply goes out right
 * after the finish and never announces an outcome Redis has not recorded. Should the script run
 * first (or not at all), it publishes nothing and {@link finished} publishes once BullMQ reports
 * the job finished, as {@link publishJobReply} does.
 */
export class JobReplier {
  /** Per job, what its script returned: subscribers that heard it, -1 when it published nothing. */
  private readonly early = new WeakMap<Job, Promise<number>>();

  constructor(
    private readonly connection: RedisConnection,
    private readonly prefix: string,
  ) {}

  /**
   * Call as `job`'s processor returns or throws in `worker`, before BullMQ records it. Resolves
   * with the subscribers that heard the reply, or -1 when it published none (nobody waits for
   * the job, or Redis did not hold it as finished when the script ran).
   */
  followFinish(worker: FinishingWorker, job: Job<{ replyTo?: string }>): Promise<number> {
    const address = job.data.replyTo;
    const id = job.id;
    if (!address || !id) return Promise.resolve(-1);
    const sent = new Promise<number>((resolve) =>
      setImmediate(() => {
        worker.client
          .then((client) =>
            runScript(
              client,
              [worker.toKey(id), worker.toKey('completed'), worker.toKey('failed')],
              [id, replyChannel(this.prefix, address)],
            ),
          )
          .then((heard) => resolve(Number(heard)))
          .catch(() => resolve(-1));
      }),
    );
    this.early.set(job, sent);
    return sent;
  }

  /**
   * Call once BullMQ reports `job` finished: publishes its outcome, unless {@link followFinish}'s
   * script did. Returns whether a subscriber heard it (undefined: nobody waits for this job).
   */
  async finished(job: Job<{ replyTo?: string }>): Promise<boolean | undefined> {
    const early = this.early.get(job);
    this.early.delete(job);
    const heard = early ? await early : -1;
    if (heard >= 0) return heard > 0;
    return publishJobReply(this.connection, this.prefix, job);
  }
}

/** Runs {@link PUBLISH_RECORDED} by its hash, loading it when Redis does not have it yet. */
async function runScript(
  client: RedisConnection,
  keys: string[],
  args: string[],
): Promise<unknown> {
  try {
    return await client.evalsha(PUBLISH_RECORDED_SHA, keys.length, ...keys, ...args);
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
    return client.eval(PUBLISH_RECORDED, keys.length, ...keys, ...args);
  }
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
