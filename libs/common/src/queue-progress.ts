import { Job, type JobsOptions, type Queue } from 'bullmq';
import type { ChainableCommander, Redis } from 'ioredis';
import type { RedisConnection } from './redis';

/** How far a queue has come: jobs (and their texts) added to it, and taken into work. */
export interface QueueCounters {
  addedJobs: number;
  addedTexts: number;
  startedJobs: number;
  startedTexts: number;
}

/** A job's place in its queue's sequence, stamped when it was added. */
export interface QueuePlace {
  /** 1 for the queue's first job ever added through {@link QueueProgress}. */
  seq: number;
  /** Texts of every job added up to and including this one. */
  textsSeq: number;
}

/** Hash fields the stamp adds to a job's own hash (BullMQ ignores fields it does not know). */
const SEQ_FIELD = 'mf_seq';
const TEXTS_SEQ_FIELD = 'mf_texts_seq';

/**
 * stampJob-2: counts a job just added to its queue and stamps its place on the job.
 * KEYS[1] the queue's progress hash; KEYS[2] the job's hash (created by the add just before it).
 * ARGV[1] texts the job carries. Returns the job's sequence number.
 */
const STAMP_JOB = `
local seq = redis.call('HINCRBY', KEYS[1], 'added_jobs', 1)
local texts = redis.call('HINCRBY', KEYS[1], 'added_texts', ARGV[1])
redis.call('HSET', KEYS[2], '${SEQ_FIELD}', seq, '${TEXTS_SEQ_FIELD}', texts)
return seq`;

/**
 * countProgress-1: adds to two counters of a queue's progress hash in one command.
 * KEYS[1] the progress hash. ARGV[1], ARGV[3] field names; ARGV[2], ARGV[4] amounts.
 * Returns the new values of both.
 */
const COUNT_PROGRESS = `
return {redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2]),
        redis.call('HINCRBY', KEYS[1], ARGV[3], ARGV[4])}`;

/**
 * The progress of queues, kept cheap enough to read on every poll: per queue, a count of the
 * jobs and texts added and of those taken into work. A job added through {@link add} carries its
 * place in the sequence, so the jobs still ahead of it are its place minus the jobs started: two
 * O(1) reads, never a scan of the queue. Queues are FIFO within a priority, so the count is exact
 * up to jobs that left without starting (canceled ones, which {@link started} counts too).
 * The only code that knows these keys.
 */
export class QueueProgress {
  constructor(
    private readonly connection: RedisConnection,
    private readonly prefix: string,
  ) {}

  /**
   * Beside the queue's own keys (`<prefix>:<name>:...`), so in its Redis Cluster slot: the stamp
   * touches the job and the counters in one script. No job id is `mf-progress`.
   */
  private key(queueName: string): string {
    return `${this.prefix}:${queueName}:mf-progress`;
  }

  /**
   * Adds a job to `queue` and stamps its place: one command more than the add, pipelined with it
   * (one round trip). Not a MULTI, which costs ioredis and Redis far more than the stamp: another
   * client's command may run between the two, so two jobs added at the same moment by two API
   * replicas may get each other's place, and a worker may take the job before its stamp (the
   * started counters do not depend on it). `also` may queue more writes of the queue's slot into
   * the same round trip, after the stamp.
   */
  async add<T extends { texts: readonly unknown[] }, R = unknown>(
    queue: Queue<T>,
    name: string,
    data: T,
    opts: JobsOptions & { jobId: string },
    also?: (pipeline: ChainableCommander) => void,
  ): Promise<Job<T, R>> {
    const job = new Job<T, R>(queue, name, data, opts, opts.jobId);
    // The queue's own client: BullMQ defined its scripts on it.
    const pipeline = (await queue.client).pipeline();
    // Queued into the pipeline at once (as BullMQ's own addBulk does); its answer comes from exec.
    void job.addJob(pipeline as unknown as Redis, { parentDependenciesKey: '' });
    pipeline.eval(STAMP_JOB, 2, this.key(queue.name), queue.toKey(opts.jobId), data.texts.length);
    also?.(pipeline);
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([error]) => error)?.[0];
    if (failed) throw failed;
    const [, added] = results[0];
    if (typeof added === 'number' && added < 0) throw new Error(`adding job failed: ${added}`);
    return job;
  }

  /** Reserves places for `jobs` jobs of `texts` texts added together; returns the counts after. */
  async reserve(
    queueName: string,
    jobs: number,
    texts: number,
  ): Promise<{ jobs: number; texts: number }> {
    const [j, t] = (await this.connection.eval(
      COUNT_PROGRESS,
      1,
      this.key(queueName),
      'added_jobs',
      jobs,
      'added_texts',
      texts,
    )) as [number, number];
    return { jobs: j, texts: t };
  }

  /** Counts jobs taken into work (or gone without starting), in one command. */
  async started(queueName: string, jobs: number, texts: number): Promise<void> {
    await this.connection.eval(
      COUNT_PROGRESS,
      1,
      this.key(queueName),
      'started_jobs',
      jobs,
      'started_texts',
      texts,
    );
  }

  /** The queue's counters (0 for a queue never counted). */
  async counters(queueName: string): Promise<QueueCounters> {
    const values = await this.connection.hmget(
      this.key(queueName),
      'added_jobs',
      'added_texts',
      'started_jobs',
      'started_texts',
    );
    const [addedJobs, addedTexts, startedJobs, startedTexts] = values.map((v) => Number(v ?? 0));
    return { addedJobs, addedTexts, startedJobs, startedTexts };
  }

  /**
   * A job's place and its queue's counters, in one round trip; the place is undefined for a job
   * added without a stamp.
   */
  async placeOf(
    queue: Queue,
    jobId: string,
  ): Promise<{ place?: QueuePlace; counters: QueueCounters }> {
    const [[, stamp], [, values]] = (await this.connection
      .multi()
      .hmget(queue.toKey(jobId), SEQ_FIELD, TEXTS_SEQ_FIELD)
      .hmget(this.key(queue.name), 'added_jobs', 'added_texts', 'started_jobs', 'started_texts')
      .exec()) as [[unknown, (string | null)[]], [unknown, (string | null)[]]];
    const [addedJobs, addedTexts, startedJobs, startedTexts] = values.map((v) => Number(v ?? 0));
    const counters = { addedJobs, addedTexts, startedJobs, startedTexts };
    if (stamp[0] == null || stamp[1] == null) return { counters };
    return { place: { seq: Number(stamp[0]), textsSeq: Number(stamp[1]) }, counters };
  }
}

/** What stands before a range of work: jobs and texts added before it and not yet started. */
export interface Standing {
  jobsAhead: number;
  textsAhead: number;
}

/**
 * Jobs and texts still ahead of work whose first job is number `firstSeq` and whose texts start
 * after `textsBefore`, given how many the queue has started. Clamped at 0.
 */
export function standing(
  firstSeq: number,
  textsBefore: number,
  counters: Pick<QueueCounters, 'startedJobs' | 'startedTexts'>,
): Standing {
  return {
    jobsAhead: Math.max(0, firstSeq - 1 - counters.startedJobs),
    textsAhead: Math.max(0, textsBefore - counters.startedTexts),
  };
}
