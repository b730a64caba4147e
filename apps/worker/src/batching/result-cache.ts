import { createHash } from 'node:crypto';
import type { Logger, RedisConnection } from '@app/common';
import type { VersionRecord } from '@app/registry';
import {
  InferenceThreadExited,
  type ClassifyOptions,
  type GroupOutcome,
} from '../runtime/inference-client';

/** A group's outcome with the texts the cache answered (`batchOf` is -1 for those). */
export interface CachedOutcome extends GroupOutcome {
  /** Indices of the texts the cache answered, in order. */
  cached: number[];
}

/** What `ResultCache.classify` needs of the inference thread. */
export interface Classifier {
  cacheKeys(texts: string[]): Promise<string[]>;
  classify(texts: string[], options?: ClassifyOptions): Promise<GroupOutcome>;
}

/**
 * Answers of one model version in Redis, keyed by the sha256 of each text's handler cache key
 * (the built-in classifier's: its token and type ids, exactly what the model is given, so two
 * texts share an answer only when the model could not tell them apart), under a key that names
 * the model, version and package content hash: a hit never crosses versions, nor a package
 * replaced under the same version. Each answer lives `ttlS` seconds from when it was computed.
 * The only code that knows the cache's keys.
 */
export class ResultCache {
  private readonly base: string;

  constructor(
    private readonly redis: RedisConnection,
    prefix: string,
    record: Pick<VersionRecord, 'name' | 'version' | 'packageSha256'>,
    readonly ttlS: number,
    private readonly log: Logger,
  ) {
    // The version's hash tag, as its queues have: one MGET or pipeline never spans cluster slots.
    this.base = `${prefix}:cache:{${record.name}@${record.version}}:${record.packageSha256 ?? 'unhashed'}:`;
  }

  /**
   * Classifies a group through the cache: one round trip to the thread for the texts' keys,
   * one MGET, the forward passes for the misses only, one pipelined SET EX of their answers.
   * When Redis fails, the group is classified as a whole and the error logged: the cache never
   * fails a job. A `bulk` group's misses go to the thread as bulk work.
   */
  async classify(thread: Classifier, texts: string[], bulk = false): Promise<CachedOutcome> {
    let keys: string[];
    let found: (string | null)[];
    try {
      keys = (await thread.cacheKeys(texts)).map((key) => this.key(key));
      found = await this.redis.mget(keys);
    } catch (error) {
      if (error instanceof InferenceThreadExited) throw error;
      this.log.warn({ err: error }, 'result cache unavailable: classifying without it');
      return { ...(await thread.classify(texts, { bulk, probabilities: true })), cached: [] };
    }
    const results = found.map((value): unknown => (value === null ? undefined : JSON.parse(value)));
    const misses = texts.flatMap((_, i) => (found[i] === null ? [i] : []));
    const cached = texts.flatMap((_, i) => (found[i] === null ? [] : [i]));
    const batchOf = new Array<number>(texts.length).fill(-1);
    if (misses.length === 0) return { results, batches: [], batchOf, preprocessMs: 0, cached };
    const fresh = await thread.classify(
      misses.map((i) => texts[i]),
      { bulk, probabilities: true },
    );
    const pipeline = this.redis.pipeline();
    const windowPasses: Record<number, number[]> = {};
    misses.forEach((i, k) => {
      results[i] = fresh.results[k];
      batchOf[i] = fresh.batchOf[k];
      const passes = fresh.windowPasses?.[k];
      if (passes) windowPasses[i] = passes;
      pipeline.set(keys[i], JSON.stringify(fresh.results[k]), 'EX', this.ttlS);
    });
    await pipeline.exec().catch((error: unknown) => {
      this.log.warn({ err: error }, 'result cache unavailable: answers not kept');
    });
    return {
      ...fresh,
      results,
      batchOf,
      ...(fresh.windowPasses ? { windowPasses } : {}),
      cached,
    };
  }

  private key(handlerKey: string): string {
    return this.base + createHash('sha256').update(handlerKey).digest('hex');
  }
}
