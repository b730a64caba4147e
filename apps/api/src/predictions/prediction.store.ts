import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Job, JobState } from 'bullmq';
import {
  QueueProgress,
  ResultExpiry,
  VersionQueues,
  keptFor,
  type PredictionJobData,
  type PredictionJobResult,
  type RedisConnection,
} from '@app/common';
import { versionKey } from '@app/registry';
import { API_CONFIG, type ApiConfig } from '../config';
import { REDIS } from '../core/core.module';
import { expiryOf, resultKeeping, type PredictionKind, type ResultKeeping } from './result-keeping';

export type PredictionJob = Job<PredictionJobData, PredictionJobResult>;

/** Where a prediction stands: BullMQ's job state, or canceled (our own record). */
export type StoredState = JobState | 'unknown' | 'canceled';

/** One request's share of a coalesced job: its place among the job's parts, and its own id. */
export interface PredictionPart {
  index: number;
  id: string;
}

/**
 * A prediction as stored: its job (gone once a queued job is canceled) and its state; `part` when
 * the prediction is one request's share of a coalesced job.
 */
export type StoredPrediction =
  | { job: PredictionJob; state: StoredState; canceledAt?: string; part?: PredictionPart }
  | { job?: undefined; state: 'canceled'; canceledView: string };

/**
 * Predictions in Redis: each is a job on its version's queue, and a canceled one also has a
 * record of its own. A prediction id names its queue (`<model>@<version>.<uuid>`), so finding a
 * prediction costs no lookup and creating one writes nothing but the job. A request that shared
 * a coalesced job has an id of its own, `<job id>.<secret>`: the job keeps only the secret's
 * digest, so the id opens that request's share alone, no caller's id opens the shared job, and no
 * part's id follows from another's.
 */
@Injectable()
export class PredictionStore {
  private readonly expiry = new ResultExpiry();
  /** How long each kind of finished job is kept: the settings do not change while it runs. */
  private readonly keeping: ResultKeeping;

  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    @Inject(REDIS) private readonly redis: RedisConnection,
    private readonly queues: VersionQueues,
    private readonly progress: QueueProgress,
  ) {
    this.keeping = resultKeeping(config);
  }

  /** A new prediction id for a version. */
  static newId(record: { name: string; version: string }): string {
    return `${versionKey(record.name, record.version)}.${randomUUID()}`;
  }

  /**
   * A new id for one request's share of coalesced job `jobId`: `<job id>.<secret>`, the secret
   * 128 random bits (base64url), and the digest of it that the job's part keeps. Kept in the job
   * itself, it needs no record of its own to write and expire, nor a key every API process must
   * share (as an HMAC would), and it lives exactly as long as the job.
   */
  static newPartId(jobId: string): { id: string; digest: string } {
    const secret = randomBytes(16).toString('base64url');
    return { id: `${jobId}.${secret}`, digest: sha256(secret) };
  }

  /**
   * The model, version and job a prediction id names (`<job id>`, or `<job id>.<secret>` for
   * one request's share of a coalesced job), or undefined for an id this API never made.
   */
  static versionOf(
    id: string,
  ): { model: string; version: string; jobId: string; partSecret?: string } | undefined {
    const match = /^((.+)@(.+)\.[0-9a-f-]{36})(?:\.([\w-]{22}))?$/.exec(id);
    if (!match) return undefined;
    const [, jobId, model, version, partSecret] = match;
    return { model, version, jobId, ...(partSecret === undefined ? {} : { partSecret }) };
  }

  private canceledKey(id: string): string {
    return `${this.config.KEY_PREFIX}:canceled:${id}`;
  }

  /**
   * Puts a prediction job on its version's queue. Once finished, an async prediction is kept for
   * RESULT_TTL_S; a sync one for SYNC_RESULT_TTL_S, the time a caller who got a 504 has to poll
   * it. Both kinds share the queue, so every job carries the longer of the two as its BullMQ age,
   * and a job of the shorter kind is marked, in the same round trip, for the sweep that removes
   * it after its own (see `resultKeeping`). The job gets its place in the queue in that round
   * trip too (see QueueProgress).
   */
  async add(id: string, data: PredictionJobData, kind: PredictionKind): Promise<PredictionJob> {
    const expiresAfterS = expiryOf(this.keeping, kind);
    const queue = this.queues.online<PredictionJobData>(data.model, data.version);
    const options = {
      jobId: id,
      attempts: this.config.JOB_ATTEMPTS,
      backoff: { type: 'exponential', delay: 500 },
      ...keptFor(this.keeping.queueAgeS),
    };
    return this.progress.add<PredictionJobData, PredictionJobResult>(
      queue,
      'predict',
      data,
      options,
      expiresAfterS === undefined
        ? undefined
        : (pipeline) => this.expiry.mark(pipeline, queue, id, expiresAfterS),
    );
  }

  /**
   * The prediction a caller's id opens (see `openedBy`) and its state, read so that they agree:
   * a finished job's state comes from the job's own fields, never from a second read that may
   * see a later moment.
   */
  find(id: string): Promise<StoredPrediction | undefined> {
    return this.read(id, (job, secret) => openedBy(job, id, secret));
  }

  /**
   * A job whole, every part of a coalesced one included, by its own id: for the API's own use
   * (comparing a job with its shadow's answers), never for an id a caller gave.
   */
  findJob(jobId: string): Promise<StoredPrediction | undefined> {
    return this.read(jobId, () => ({}));
  }

  private async read(
    id: string,
    opens: (job: PredictionJob, secret?: string) => { part?: PredictionPart } | undefined,
  ): Promise<StoredPrediction | undefined> {
    const named = PredictionStore.versionOf(id);
    if (!named) return undefined;
    const { jobId } = named;
    const queue = this.queues.online<PredictionJobData>(named.model, named.version);
    const [job, canceled] = await Promise.all([
      queue.getJob(jobId) as Promise<PredictionJob | undefined>,
      this.redis.hgetall(this.canceledKey(id)),
    ]);
    // The record is kept under the id that was canceled, which had opened the prediction.
    if (!job) return canceled.at ? { state: 'canceled', canceledView: canceled.view } : undefined;
    const opened = opens(job, named.partSecret);
    if (!opened) return undefined;
    const { part } = opened;
    if (canceled.at) return { job, state: 'canceled', canceledAt: canceled.at, part };
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

/**
 * What an id opens of its job: the whole job when the id is the job's own and the job has no
 * parts (a coalesced job's own id was never handed to a caller), else the part whose digest
 * matches the id's secret; undefined when it opens nothing.
 */
function openedBy(
  job: PredictionJob,
  id: string,
  secret?: string,
): { part?: PredictionPart } | undefined {
  const parts = job.data.parts;
  if (secret === undefined) return parts ? undefined : {};
  const digest = sha256(secret);
  // Digests of 128-bit random secrets: a comparison's time tells nothing worth knowing.
  const index = parts?.findIndex((p) => p.idDigest === digest) ?? -1;
  return index < 0 ? undefined : { part: { index, id } };
}

function finishedState(job: PredictionJob, part?: PredictionPart): JobState {
  if (job.failedReason && job.returnvalue == null) return 'failed';
  return part && job.returnvalue?.partErrors?.[part.index] ? 'failed' : 'completed';
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
