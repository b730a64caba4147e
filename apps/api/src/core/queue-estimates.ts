import { Injectable } from '@nestjs/common';
import { QueueProgress, VersionQueues, bulkQueueName, standing, type Standing } from '@app/common';
import { ModelCatalog } from './model-catalog';

/** Where queued work stands: what is ahead of it, and when it should start and finish. */
export interface QueueEstimate {
  /** Jobs of the version's queue ahead of it that no worker has started yet. */
  position: number;
  /** Texts (rows, for a batch) those jobs carry. */
  texts_ahead: number;
  /** From the texts per second the version's live workers report; null while none reports. */
  estimated_start_at: string | null;
  estimated_finish_at: string | null;
}

/**
 * The place of `texts` texts behind `ahead` in a queue drained at `rate` texts per second:
 * start once the texts ahead are answered, finish once its own are too.
 */
export function estimate(ahead: Standing, texts: number, rate: number, now: number): QueueEstimate {
  const at = (n: number) => (rate > 0 ? new Date(now + (n / rate) * 1000).toISOString() : null);
  return {
    position: ahead.jobsAhead,
    texts_ahead: ahead.textsAhead,
    estimated_start_at: at(ahead.textsAhead),
    estimated_finish_at: at(ahead.textsAhead + texts),
  };
}

/**
 * Queue positions and times to expect, cheap enough for every poll: two hash reads in one round
 * trip and the cached throughput of the version's workers, never a scan of the queue (see
 * {@link QueueProgress}).
 */
@Injectable()
export class QueueEstimates {
  constructor(
    private readonly progress: QueueProgress,
    private readonly queues: VersionQueues,
    private readonly catalog: ModelCatalog,
  ) {}

  /** Where a waiting online job stands; undefined for one added without a place. */
  async ofJob(
    version: { model: string; version: string },
    jobId: string,
    texts: number,
  ): Promise<QueueEstimate | undefined> {
    const queue = this.queues.online(version.model, version.version);
    const [{ place, counters }, live] = await Promise.all([
      this.progress.placeOf(queue, jobId),
      this.catalog.live({ name: version.model, version: version.version }),
    ]);
    if (!place) return undefined;
    const ahead = standing(place.seq, place.textsSeq - texts, counters);
    return estimate(ahead, texts, live.textsPerSecond, Date.now());
  }

  /**
   * Where the rows of a batch not yet started stand: its chunks were given places
   * `before.jobs + 1` onwards in the version's bulk queue, their rows after `before.texts`.
   */
  async ofBatch(
    batch: { model: string; version: string; chunks: number; total: number },
    before: { jobs: number; texts: number },
  ): Promise<QueueEstimate> {
    const [counters, live] = await Promise.all([
      this.progress.counters(bulkQueueName(batch.model, batch.version)),
      this.catalog.live({ name: batch.model, version: batch.version }),
    ]);
    const ahead = standing(before.jobs + 1, before.texts, counters);
    const ownStarted = Math.max(0, counters.startedTexts - before.texts);
    const remaining = Math.max(0, batch.total - ownStarted);
    return estimate(ahead, remaining, live.textsPerSecond, Date.now());
  }
}
