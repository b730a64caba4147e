import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Job, JobState } from 'bullmq';
import {
  QueueProgress,
  VersionQueues,
  type PredictionJobData,
  type PredictionJobResult,
  type RedisConnection,
} from '@app/common';
import { versionKey } from '@app/registry';
import { API_CONFIG, type ApiConfig } from '../config';
import { REDIS } from '../core/core.module';

export type PredictionJob = Job<PredictionJobData, PredictionJobResult>;

/** Where a prediction stands: BullMQ's job state, or canceled (our own record). */
export type StoredState = JobState | 'unknown' | 'canceled';

/**
 * A prediction as stored: its job (gone once a queued job is canceled) and its state; `part` when
 * the prediction is one request's share of a coalesced job.
 */
export type StoredPrediction =
  | { job: PredictionJob; state: StoredState; canceledAt?: string; part?: number }
  | { job?: undefined; state: 'canceled'; canceledView: string };

/**
 * Predictions in Redis: each is a job on its version's queue, and a canceled one also has a
 * record of its own. A prediction id names its queue (`<model>@<version>.<uuid>`), so finding a
 * prediction costs no lookup and creating one writes nothing but the job.
 */
@Injectable()
export class PredictionStore {
  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    @Inject(REDIS) private readonly redis: RedisConnection,
    private readonly queues: VersionQueues,
    private readonly progress: QueueProgress,
  ) {}

  /** A new prediction id for a version. */
  static newId(record: { name: string; version: string }): string {
    return `${versionKey(record.name, record.version)}.${randomUUID()}`;
  }

  /** The id of one request's share (part `part`) of coalesced job `jobId`. */
  static partId(jobId: string, part: number): string {
    return `${jobId}.${part}`;
  }

  /**
   * The model, version and job a prediction id names (`<job id>`, or `<job id>.<part>` for one
   * request's share of a coalesced job), or undefined for an id this API never made.
   */
  static versionOf(
    id: string,
  ): { model: string; version: string; jobId: string; part?: number } | undefined {
    const match = /^((.+)@(.+)\.[0-9a-f-]{36})(?:\.(\d{1,6}))?$/.exec(id);
    if (!match) return undefined;
    const [, jobId, model, version, part] = match;
    return { model, version, jobId, ...(part === undefined ? {} : { part: Number(part) }) };
  }

  private canceledKey(id: string): string {
    return `${this.config.KEY_PREFIX}:canceled:${id}`;
  }

  /**
   * Puts a prediction job on its version's queue. Once finished, an async prediction is kept for
   * RESULT_TTL_S; a sync one only for SYNC_RESULT_TTL_S, the time a caller who got a 504 has to
   * poll it. The job gets its place in the queue in the same round trip (see QueueProgress).
   */
  async add(id: string, data: PredictionJobData, kind: 'sync' | 'async'): Promise<PredictionJob> {
    const ttl = kind === 'sync' ? this.config.SYNC_RESULT_TTL_S : this.config.RESULT_TTL_S;
    const queue = this.queues.online<PredictionJobData>(data.model, data.version);
    return this.progress.add(queue, 'predict', data, {
      jobId: id,
      attempts: this.config.JOB_ATTEMPTS,
      backoff: { type: 'exponential', delay: 500 },
      removeOnComplete: { age: ttl },
      removeOnFail: { age: ttl },
    });
  }

  /**
   * The prediction and its state, read so that they agree: a finished job's state comes from
   * the job's own fields, never from a second read that may see a later moment.
   */
  async find(id: string): Promise<StoredPrediction | undefined> {
    const named = PredictionStore.versionOf(id);
    if (!named) return undefined;
    const { jobId, part } = named;
    const queue = this.queues.online<PredictionJobData>(named.model, named.version);
    const [job, canceled] = await Promise.all([
      queue.getJob(jobId) as Promise<PredictionJob | undefined>,
      this.redis.hgetall(this.canceledKey(id)),
    ]);
    if (canceled.at) {
      if (job) return { job, state: 'canceled', canceledAt: canceled.at, part };
      return { state: 'canceled', canceledView: canceled.view };
    }
    if (!job || (part !== undefined && !job.data.parts?.[part])) return undefined;
    if (job.finishedOn) return { job, state: finishedState(job, part), part };
    const state = await job.getState();
    if (state !== 'completed' && state !== 'failed') return { job, state, part };
    // It finished between the two reads: read the job again for its outcome.
    const finished = (await queue.getJob(jobId)) as PredictionJob | undefined;
    return finished?.finishedOn
      ? { job: finished, state: finishedState(finished, part), part }
      : undefined;
  }

  /**
   * Records a cancellation with the prediction's last view, and takes a queued job off its
   * queue (a job already in a batch finishes computing; its output is withheld).
   */
  async cancel(id: string, job: PredictionJob, at: string, view: unknown, queued: boolean) {
    const key = this.canceledKey(id);
    await this.redis
      .multi()
      .hset(key, { at, view: JSON.stringify(view) })
      .expire(key, this.config.RESULT_TTL_S)
      .exec();
    // A part shares its job with other requests: only its own answer is withheld. A job taken
    // off its queue unstarted counts as started, so the jobs behind it move up.
    if (
      queued &&
      id === job.id &&
      (await job.remove().then(
        () => true,
        () => false,
      ))
    )
      await this.progress.started(job.queueName, 1, job.data.texts.length);
  }
}

function finishedState(job: PredictionJob, part?: number): JobState {
  if (job.failedReason && job.returnvalue == null) return 'failed';
  return part !== undefined && job.returnvalue?.partErrors?.[part] ? 'failed' : 'completed';
}
