import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { VersionQueues, type PredictionJobData } from '@app/common';
import type { ShadowSetting } from '@app/registry';
import { API_CONFIG, type ApiConfig } from '../config';
import { ApiMetrics } from '../metrics/api-metrics';
import { BacklogEstimate } from './backlog-estimate';
import { ShadowStore, type ShadowCounter } from './shadow.store';

/** How often the shadow's backlog is read while copies are made, and counts written. */
const READ_INTERVAL_MS = 250;

/** One model's shadow, as this process copies to it. */
interface ShadowState {
  model: string;
  setting: ShadowSetting;
  backlog: BacklogEstimate;
  /** Resolved once the backlog has been read (or failed to be) for the first time. */
  firstRead: Promise<void>;
  /** Counts not yet added to the stored statistics. */
  unwritten: Partial<Record<ShadowCounter, number>>;
}

/**
 * Copies a fraction of each model's online prediction jobs to its shadow version, if it has one,
 * without the caller waiting for any of it: a copy is made after the primary job was added, and
 * its errors are logged and counted, never thrown. While the shadow's backlog (online and bulk
 * jobs queued for its version) is at SHADOW_MAX_BACKLOG or more, copies are dropped and counted.
 */
@Injectable()
export class ShadowTraffic implements OnModuleDestroy {
  private readonly states = new Map<string, ShadowState>();
  private writeTimer?: NodeJS.Timeout;

  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly queues: VersionQueues,
    private readonly store: ShadowStore,
    private readonly metrics: ApiMetrics,
    private readonly logger: PinoLogger,
  ) {}

  /**
   * Copies job `id` (just added) to `shadow`, its model's shadow as the request was resolved
   * with, maybe. Returns at once.
   */
  copy(id: string, data: PredictionJobData, shadow: ShadowSetting | undefined): void {
    if (data.shadow || data.bulk) return;
    if (!shadow || shadow.version === data.version || Math.random() >= shadow.fraction) return;
    this.copyNow(id, data, shadow).catch((error: unknown) =>
      this.logger.warn({ err: error, predictionId: id }, 'cannot copy a job to the shadow'),
    );
  }

  private async copyNow(
    id: string,
    data: PredictionJobData,
    setting: ShadowSetting,
  ): Promise<void> {
    const state = this.stateOf(data.model, setting);
    void this.readBacklog(state, this.config.SHADOW_MAX_BACKLOG);
    await state.firstRead;
    const labels = { model: data.model, version: setting.version };
    if (state.backlog.jobs >= this.config.SHADOW_MAX_BACKLOG) {
      this.metrics.shadowCopies.inc({ ...labels, outcome: 'dropped' });
      return this.count(state, 'dropped');
    }
    state.backlog.addStarted();
    let added = false;
    try {
      await this.store.addCopy(id, data, setting);
      added = true;
    } catch (error) {
      this.metrics.shadowCopies.inc({ ...labels, outcome: 'error' });
      this.count(state, 'copy_errors');
      throw error;
    } finally {
      state.backlog.addEnded(added);
    }
    this.metrics.shadowCopies.inc({ ...labels, outcome: 'queued' });
    this.count(state, 'copied');
  }

  /** The model's state for this setting: a new one when the setting changed. */
  private stateOf(model: string, setting: ShadowSetting): ShadowState {
    let state = this.states.get(model);
    if (
      !state ||
      state.setting.since !== setting.since ||
      state.setting.version !== setting.version
    ) {
      const backlog = new BacklogEstimate();
      state = { model, setting, backlog, firstRead: Promise.resolve(), unwritten: {} };
      state.firstRead = this.readBacklog(state);
      this.states.set(model, state);
    }
    state.setting = setting;
    return state;
  }

  /**
   * Reads the shadow's backlog if a read is due: READ_INTERVAL_MS after the last, or sooner once
   * a quarter of `bound` was added since (so that jobs the shadow finished meanwhile do not make
   * a fast stream of copies look like a full backlog). Never throws.
   */
  private readBacklog(state: ShadowState, bound = Infinity): Promise<void> {
    const now = performance.now();
    const interval = state.backlog.addedSinceRead >= bound / 4 ? 0 : READ_INTERVAL_MS;
    if (!state.backlog.due(now, interval)) return Promise.resolve();
    state.backlog.readStarted(now);
    const { model, setting } = state;
    return this.queues.backlog(model, setting.version).then(
      (backlog) => state.backlog.readDone(backlog.queued),
      (error: unknown) => {
        state.backlog.readFailed();
        this.logger.warn(
          { err: error, model, version: setting.version },
          "cannot read the shadow's backlog",
        );
      },
    );
  }

  /** Counts toward the stored statistics, written at most every READ_INTERVAL_MS. */
  private count(state: ShadowState, counter: ShadowCounter): void {
    state.unwritten[counter] = (state.unwritten[counter] ?? 0) + 1;
    this.writeTimer ??= setTimeout(() => {
      this.writeTimer = undefined;
      void this.writeCounts();
    }, READ_INTERVAL_MS);
  }

  private async writeCounts(): Promise<void> {
    await Promise.all(
      [...this.states.values()].map(async (state) => {
        const { model, unwritten: counts } = state;
        state.unwritten = {};
        await this.store.record(model, state.setting.since, counts).catch((error: unknown) => {
          this.logger.warn({ err: error, model }, 'cannot record shadow copy counts');
        });
      }),
    );
  }

  async onModuleDestroy(): Promise<void> {
    clearTimeout(this.writeTimer);
    this.writeTimer = undefined;
    await this.writeCounts();
  }
}
