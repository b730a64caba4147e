import { Injectable } from '@nestjs/common';
import {
  JobWaiter,
  VersionQueues,
  predictionQueueName,
  type JobOutcome,
  type PredictionJobData,
} from '@app/common';
import { Acknowledgement } from '../core/acknowledgement';
import type { ResolvedVersion } from '../core/model-catalog';
import { ShadowTraffic } from '../shadow/shadow-traffic';
import { PredictionStore, type PredictionJob } from './prediction.store';

/**
 * The one way predictions go on their version's queue, and are waited for: a job is stored, then
 * its model's shadow (as the request was resolved) may get a copy, which nobody waits for.
 */
@Injectable()
export class PredictionQueue {
  constructor(
    private readonly store: PredictionStore,
    private readonly shadow: ShadowTraffic,
    private readonly waiter: JobWaiter,
    private readonly queues: VersionQueues,
    private readonly acknowledgement: Acknowledgement,
  ) {}

  /**
   * Puts prediction job `id` on its version's queue (see {@link PredictionStore.add}); with
   * REDIS_ACK_REPLICAS, resolves once replicas hold it (a 503 problem when they do not in time).
   */
  async add(
    target: ResolvedVersion,
    id: string,
    data: PredictionJobData,
    kind: 'sync' | 'async',
  ): Promise<PredictionJob> {
    const job = await this.store.add(id, data, kind);
    await this.acknowledgement.replicated(this.queues.online(data.model, data.version), [id]);
    this.shadow.copy(id, data, target.shadow);
    return job;
  }

  /** What a job this process will wait on carries as `replyTo` (see {@link JobWaiter.wait}). */
  get replyAddress(): string | undefined {
    return this.waiter.replyAddress;
  }

  /**
   * Resolves when prediction job `jobId` finishes, or after `timeoutMs` (see
   * {@link JobWaiter.wait}: `checkFirst: false` for a job not added yet).
   */
  wait(
    jobId: string,
    timeoutMs: number,
    options?: { checkFirst?: boolean; replyTo?: boolean },
  ): Promise<JobOutcome> {
    // The id names its queue: a retried create may find a prediction of another version.
    const { model, version } = PredictionStore.versionOf(jobId)!;
    return this.waiter.wait(predictionQueueName(model, version), jobId, timeoutMs, options);
  }
}
