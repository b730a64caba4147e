import { Inject, Injectable } from '@nestjs/common';
import { VersionQueues } from '@app/common';
import { versionKey, type VersionRecord } from '@app/registry';
import { API_CONFIG, type ApiConfig } from '../config';
import type { LiveVersion } from '../core/model-catalog';
import { Problem } from '../core/problem';
import { ApiMetrics } from '../metrics/api-metrics';

/** How long a queue count is reused: one count per version and replica at most this often. */
const COUNT_MS = 250;
/** Weight of the newest request in the moving average of texts per job. */
const ALPHA = 0.1;

/**
 * Load shedding for online work. A version's wait is estimated as its queued jobs times the texts
 * a job carries on average, over the texts per second its live workers report answering. A sync
 * call is refused at once (503, `Retry-After`) when that wait is over MAX_QUEUE_WAIT_S, instead
 * of a 504 after SYNC_TIMEOUT_MS; async creates are accepted until MAX_QUEUED_JOBS jobs wait,
 * then refused (429). Bulk chunks have their own queue and are never shed.
 */
@Injectable()
export class Admission {
  private readonly counts = new Map<string, { at: number; queued: number }>();
  private readonly textsPerJob = new Map<string, number>();

  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly queues: VersionQueues,
    private readonly metrics: ApiMetrics,
  ) {}

  /**
   * Throws 503 when the version's estimated wait is over MAX_QUEUE_WAIT_S; `live` is what its
   * workers report.
   */
  async admitSync(record: VersionRecord, texts: number, live: LiveVersion): Promise<void> {
    const wait = await this.estimatedWait(record, texts, live);
    if (wait > this.config.MAX_QUEUE_WAIT_S) {
      this.shed(record, 'sync', 'queue_wait');
      throw new Problem(
        503,
        'Overloaded',
        `${record.name} version ${record.version} has about ${Math.round(wait)} s of work queued ` +
          `(the limit is ${this.config.MAX_QUEUE_WAIT_S} s); retry later, or create an async prediction`,
        { estimated_wait_s: Math.round(wait) },
      ).retryAfter(Math.min(wait - this.config.MAX_QUEUE_WAIT_S, 60));
    }
  }

  /** Throws 429 when MAX_QUEUED_JOBS jobs already wait for the version. */
  async admitAsync(record: VersionRecord, texts: number, live: LiveVersion): Promise<void> {
    this.observe(record, texts);
    const queued = await this.queued(record);
    if (queued >= this.config.MAX_QUEUED_JOBS) {
      this.shed(record, 'async', 'queue_full');
      const rate = this.jobsPerSecond(record, live);
      throw new Problem(
        429,
        'Too many queued',
        `${record.name} version ${record.version} has ${queued} jobs queued, the most it takes`,
      ).retryAfter(rate > 0 ? (queued - this.config.MAX_QUEUED_JOBS + 1) / rate : 5);
    }
    // Counted until the next read of the queue, so a burst cannot overshoot the cap by much.
    this.counts.get(versionKey(record.name, record.version))!.queued++;
  }

  /** Seconds of work queued before a new job of `texts` texts, or 0 when unknown. */
  async estimatedWait(record: VersionRecord, texts: number, live: LiveVersion): Promise<number> {
    this.observe(record, texts);
    const rate = this.jobsPerSecond(record, live);
    if (rate <= 0) return 0;
    const wait = (await this.queued(record)) / rate;
    this.metrics.estimatedWait.set({ model: record.name, version: record.version }, wait);
    return wait;
  }

  /** Jobs per second the version's workers answer, from the texts per second they report. */
  private jobsPerSecond(record: VersionRecord, live: LiveVersion): number {
    const texts = this.textsPerJob.get(versionKey(record.name, record.version)) ?? 1;
    return live.textsPerSecond / texts;
  }

  private observe(record: VersionRecord, texts: number): void {
    const key = versionKey(record.name, record.version);
    const mean = this.textsPerJob.get(key);
    this.textsPerJob.set(key, mean === undefined ? texts : mean + ALPHA * (texts - mean));
  }

  private async queued(record: VersionRecord): Promise<number> {
    const key = versionKey(record.name, record.version);
    const now = Date.now();
    let cached = this.counts.get(key);
    if (!cached || now - cached.at > COUNT_MS) {
      const { online } = await this.queues.backlog(record.name, record.version);
      cached = { at: now, queued: online.waiting + online.prioritized + online.delayed };
      this.counts.set(key, cached);
    }
    return cached.queued;
  }

  private shed(record: VersionRecord, kind: 'sync' | 'async', reason: string): void {
    this.metrics.shed.inc({ model: record.name, version: record.version, kind, reason });
  }
}
