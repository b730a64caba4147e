import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Job, JobState } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  QueueProgress,
  VersionQueues,
  type PredictionJobData,
  type PredictionJobResult,
} from '@app/common';
import { versionKey } from '@app/registry';
import { API_CONFIG, type ApiConfig } from '../config';
import { REDIS } from '../core/core.module';

export type PredictionJob = Job<PredictionJobData, PredictionJobResult>;

/** Where a prediction stands: BullMQ's job state, or canceled (our own record). */
export type StoredState = JobState | 'unknown' | 'canceled';

/** A prediction as stored: its job (gone once a queued job is canceled) and its state. */
export type StoredPrediction =
  | { job: PredictionJob; state: StoredState; canceledAt?: string }
  | { job?: undefined; state: 'canceled'; canceledView: string };

/**
 * Predictions in Redis: each is a job on its version's queue, and a canceled one also has a
 * record of its own. A prediction id names its queue (`<model>@<version>.<uuid>`), so finding a
 * prediction costs no lookup and creating one writes nothing but the job.
 */
@Injectable()
export class PredictionStore {
  private readonly progress: QueueProgress;

  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly queues: VersionQueues,
  ) {
    this.progress = new QueueProgress(redis, config.KEY_PREFIX);
  }

  /** A new prediction id for a version. */
  static newId(record: { name: string; version: string }): string {
    return `${versionKey(record.name, record.version)}.${randomUUID()}`;
  }

  /** The model and version a prediction id names, or undefined for an id this API never made. */
  static versionOf(id: string): { model: string; version: string } | undefined {
    const match = /^(.+)@(.+)\.[0-9a-f-]{36}$/.exec(id);
    return match ? { model: match[1], version: match[2] } : undefined;
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
  async find(
    id: string,
    version: { model: string; version: string },
  ): Promise<StoredPrediction | undefined> {
    const queue = this.queues.online<PredictionJobData>(version.model, version.version);
    const [job, canceled] = await Promise.all([
      queue.getJob(id) as Promise<PredictionJob | undefined>,
      this.redis.hgetall(this.canceledKey(id)),
    ]);
    if (canceled.at) {
      if (job) return { job, state: 'canceled', canceledAt: canceled.at };
      return { state: 'canceled', canceledView: canceled.view };
    }
    if (!job) return undefined;
    if (job.finishedOn) return { job, state: finishedState(job) };
    const state = await job.getState();
    if (state !== 'completed' && state !== 'failed') return { job, state };
    // It finished between the two reads: read the job again for its outcome.
    const finished = (await queue.getJob(id)) as PredictionJob | undefined;
    return finished?.finishedOn ? { job: finished, state: finishedState(finished) } : undefined;
  }

  /**
   * Records a cancellation with the prediction's last view, and takes a queued job off its
   * queue (a job already in a batch finishes computing; its output is withheld).
   */
  async cancel(job: PredictionJob, at: string, view: unknown, queued: boolean): Promise<void> {
    const key = this.canceledKey(job.id!);
    await this.redis
      .multi()
      .hset(key, { at, view: JSON.stringify(view) })
      .expire(key, this.config.RESULT_TTL_S)
      .exec();
    if (
      queued &&
      (await job.remove().then(
        () => true,
        () => false,
      ))
    ) {
      // It leaves its queue unstarted: the jobs behind it move up.
      await this.progress.started(job.queueName, 1, job.data.texts.length);
    }
  }
}

function finishedState(job: PredictionJob): JobState {
  return job.failedReason && job.returnvalue == null ? 'failed' : 'completed';
}
