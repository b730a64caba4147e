import { Inject, Injectable } from '@nestjs/common';
import { VersionQueues, type PredictionJobData, type RedisConnection } from '@app/common';
import type { ShadowSetting } from '@app/registry';
import { API_CONFIG, type ApiConfig } from '../config';
import { REDIS } from '../core/core.module';
import type { Disagreement } from './answer-comparison';

/** Disagreeing texts kept per model, newest first. */
export const DISAGREEMENT_SAMPLE = 20;

/** Counters of a shadow's statistics, as stored (one hash field each). */
export const SHADOW_COUNTERS = [
  'copied',
  'dropped',
  'copy_errors',
  'compared',
  'texts',
  'agreed',
  'probability_texts',
  'probability_difference',
  'primary_failed',
  'primary_gone',
  'primary_unfinished',
  'shadow_failed',
] as const;
export type ShadowCounter = (typeof SHADOW_COUNTERS)[number];

/** A shadow's statistics since its setting began: its counters and latest disagreements. */
export interface ShadowStats {
  counters: Record<ShadowCounter, number>;
  disagreements: Disagreement[];
}

/**
 * recordShadow-2: adds to a shadow's statistics if they are still those of the setting named
 * (a comparison of a replaced or removed setting counts nowhere).
 * KEYS[1] the statistics hash; KEYS[2] the disagreements list, newest first.
 * ARGV[1] `since` of the setting; ARGV[2] disagreements kept; ARGV[3] n, the counter pairs;
 * ARGV[4 .. 3+2n] counter, increment; ARGV[4+2n ..] disagreements (JSON) to push.
 * Returns 1 when recorded, 0 when the statistics belong to another setting or to none.
 */
const RECORD_SHADOW = `
if redis.call('HGET', KEYS[1], 'since') ~= ARGV[1] then return 0 end
local n = tonumber(ARGV[3])
for i = 0, n - 1 do redis.call('HINCRBYFLOAT', KEYS[1], ARGV[4 + 2 * i], ARGV[5 + 2 * i]) end
if #ARGV >= 4 + 2 * n then
  for i = 4 + 2 * n, #ARGV do redis.call('LPUSH', KEYS[2], ARGV[i]) end
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[2]) - 1)
end
return 1
`;

/**
 * Shadow copies and statistics in Redis. A copy is a prediction job on the shadow version's bulk
 * queue, marked as a copy: the worker that answers it puts the answer on SHADOW_QUEUE for the
 * comparison. The statistics of a model's shadow are one hash and one list capped at
 * DISAGREEMENT_SAMPLE.
 */
@Injectable()
export class ShadowStore {
  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    @Inject(REDIS) private readonly redis: RedisConnection,
    private readonly queues: VersionQueues,
  ) {}

  /**
   * A model's keys share the hash tag `{shadow:<model>}`: on a Redis Cluster the script and
   * transactions below touch one slot.
   */
  private statsKey(model: string): string {
    return `${this.config.KEY_PREFIX}:{shadow:${model}}:stats`;
  }

  private disagreementsKey(model: string): string {
    return `${this.config.KEY_PREFIX}:{shadow:${model}}:disagreements`;
  }

  /** Puts a copy of a prediction job on the shadow version's bulk queue. */
  async addCopy(predictionId: string, data: PredictionJobData, shadow: ShadowSetting) {
    const copy: PredictionJobData = {
      model: data.model,
      version: shadow.version,
      texts: data.texts,
      // The comparison needs the shadow's probability of the primary's class.
      probabilities: true,
      requestId: data.requestId,
      // A coalesced job's parts are answered, or fail, on their own, as the primary's were.
      ...(data.parts ? { parts: data.parts } : {}),
      shadow: { predictionId, since: shadow.since },
    };
    await this.queues
      .bulk<PredictionJobData>(data.model, shadow.version)
      .add('shadow', copy, { attempts: 1, removeOnComplete: true, removeOnFail: true });
  }

  /** Starts the statistics of a new setting afresh. */
  async reset(model: string, since: string): Promise<void> {
    await this.redis
      .multi()
      .del(this.statsKey(model), this.disagreementsKey(model))
      .hset(this.statsKey(model), 'since', since)
      .exec();
  }

  /** Removes a model's statistics. */
  async remove(model: string): Promise<void> {
    await this.redis.del(this.statsKey(model), this.disagreementsKey(model));
  }

  /**
   * Adds to the statistics of the setting that began at `since`; false (and nothing recorded)
   * when the model's statistics are another setting's, or gone.
   */
  async record(
    model: string,
    since: string,
    counts: Partial<Record<ShadowCounter, number>>,
    disagreements: readonly Disagreement[] = [],
  ): Promise<boolean> {
    const pairs = Object.entries(counts).filter(([, n]) => n);
    if (pairs.length === 0 && disagreements.length === 0) return true;
    const recorded = await this.redis.eval(
      RECORD_SHADOW,
      2,
      this.statsKey(model),
      this.disagreementsKey(model),
      since,
      DISAGREEMENT_SAMPLE,
      pairs.length,
      ...pairs.flatMap(([field, n]) => [field, String(n)]),
      ...disagreements.slice(0, DISAGREEMENT_SAMPLE).map((d) => JSON.stringify(d)),
    );
    return recorded === 1;
  }

  /** The statistics of the setting that began at `since`, or zeros if the stored ones are not its. */
  async read(model: string, since: string): Promise<ShadowStats> {
    const [[, hash], [, list]] = (await this.redis
      .multi()
      .hgetall(this.statsKey(model))
      .lrange(this.disagreementsKey(model), 0, DISAGREEMENT_SAMPLE - 1)
      .exec()) as [[unknown, Record<string, string>], [unknown, string[]]];
    const mine = hash.since === since;
    const counters = Object.fromEntries(
      SHADOW_COUNTERS.map((c) => [c, mine ? Number(hash[c] ?? 0) : 0]),
    ) as Record<ShadowCounter, number>;
    return {
      counters,
      disagreements: mine ? list.map((d) => JSON.parse(d) as Disagreement) : [],
    };
  }
}
