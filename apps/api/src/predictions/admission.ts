import { Inject, Injectable } from '@nestjs/common';
import { QueueProgress, VersionQueues, predictionQueueName } from '@app/common';
import { versionKey, type VersionRecord } from '@app/registry';
import { API_CONFIG, type ApiConfig } from '../config';
import type { LiveVersion } from '../core/model-catalog';
import { Problem } from '../core/problem';
import { ApiMetrics } from '../metrics/api-metrics';
import { QueuedWork } from './queued-work';

/** How long a queue reading is reused: one reading per version and replica at most this often. */
const COUNT_MS = 250;

/**
 * Load shedding for online work. A version's wait is estimated as the texts queued before a call
 * over the texts per second its live workers report answering (see {@link QueuedWork}). A sync
 * call is refused at once (503, `Retry-After`) when that wait is over MAX_QUEUE_WAIT_S or
 * SYNC_TIMEOUT_MS, instead of a 504 once SYNC_TIMEOUT_MS has passed; async creates are accepted
 * until MAX_QUEUED_JOBS jobs wait, then refused (429). MAX_QUEUE_WAIT_S=0 turns the sync shedding
 * off: every sync call then waits, up to SYNC_TIMEOUT_MS. Every admitted call counts at once, so a
 * burst cannot all pass on one reading. Bulk chunks have their own queue and are never shed.
 */
@Injectable()
export class Admission {
  private readonly work = new Map<string, { at: number; work: QueuedWork }>();
  /** The reading under way per version: calls that arrive meanwhile wait for it, not read again. */
  private readonly reading = new Map<string, Promise<QueuedWork>>();

  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly queues: VersionQueues,
    private readonly progress: QueueProgress,
    private readonly metrics: ApiMetrics,
  ) {}

  /**
   * Throws 503 when the call would wait longer than MAX_QUEUE_WAIT_S or SYNC_TIMEOUT_MS to start;
   * `live` is what the version's workers report.
   */
  async admitSync(record: VersionRecord, texts: number, live: LiveVersion): Promise<void> {
    const work = await this.queued(record);
    const rate = live.textsPerSecond;
    const limit =
      this.config.MAX_QUEUE_WAIT_S === 0
        ? Infinity
        : Math.min(this.config.MAX_QUEUE_WAIT_S, this.config.SYNC_TIMEOUT_MS / 1000);
    // Weighed and counted with no await between: concurrent calls are weighed one behind another.
    const { admitted, waitS } = work.offerSync(texts, rate, limit);
    this.metrics.estimatedWait.set(labelsOf(record), work.waitS(rate));
    if (!admitted) {
      this.shed(record, 'sync', 'queue_wait');
      throw new Problem(
        503,
        'Overloaded',
        `${record.name} version ${record.version} has about ${Math.round(waitS)} s of work queued ` +
          `(the limit is ${limit} s); retry later, or create an async prediction`,
        { estimated_wait_s: Math.round(waitS) },
      ).retryAfter(Math.min(waitS - limit, 60));
    }
  }

  /** Throws 429 when MAX_QUEUED_JOBS jobs already wait for the version. */
  async admitAsync(record: VersionRecord, texts: number, live: LiveVersion): Promise<void> {
    const work = await this.queued(record);
    const rate = live.textsPerSecond;
    if (work.jobs >= this.config.MAX_QUEUED_JOBS) {
      this.shed(record, 'async', 'queue_full');
      const excess = work.jobs - this.config.MAX_QUEUED_JOBS + 1;
      throw new Problem(
        429,
        'Too many queued',
        `${record.name} version ${record.version} has ${work.jobs} jobs queued, the most it takes`,
      ).retryAfter(rate > 0 ? work.jobsWaitS(excess, rate) : 5);
    }
    work.admitAsync(texts);
  }

  /** The version's queued work, read again when the last reading is older than COUNT_MS. */
  private async queued(record: VersionRecord): Promise<QueuedWork> {
    const key = versionKey(record.name, record.version);
    const cached = this.work.get(key);
    if (cached && Date.now() - cached.at <= COUNT_MS) return cached.work;
    let reading = this.reading.get(key);
    if (!reading) {
      reading = this.read(record, cached?.work ?? new QueuedWork()).finally(() =>
        this.reading.delete(key),
      );
      this.reading.set(key, reading);
    }
    return reading;
  }

  private async read(record: VersionRecord, work: QueuedWork): Promise<QueuedWork> {
    const key = versionKey(record.name, record.version);
    const [{ online }, counters] = await Promise.all([
      this.queues.backlog(record.name, record.version),
      this.progress.counters(predictionQueueName(record.name, record.version)),
    ]);
    work.read({ jobs: online.waiting + online.prioritized + online.delayed, counters });
    this.work.set(key, { at: Date.now(), work });
    return work;
  }

  private shed(record: VersionRecord, kind: 'sync' | 'async', reason: string): void {
    this.metrics.shed.inc({ ...labelsOf(record), kind, reason });
  }
}

const labelsOf = (record: VersionRecord) => ({ model: record.name, version: record.version });
