import { UnrecoverableError, type Job } from 'bullmq';
import {
  DEADLINE_EXCEEDED,
  type FinishingWorker,
  type JobReplier,
  type Logger,
  type PredictionJobData,
  type PredictionJobResult,
} from '@app/common';
import type { ShadowAnnouncer } from '../shadow-announcer';
import type { StartReporter } from '../start-reporter';
import type { WebhookAnnouncer } from '../webhook-announcer';
import type { WorkerMetrics } from '../worker-metrics';
import type { IntakeEvents } from './job-intake';

/**
 * What a consumer tells others as its jobs move: metrics, webhook deliveries of the events a job
 * asked for, shadow answers for comparison, the queues' progress counters, and the finished
 * job's answer to the API process waiting for it.
 */
export class JobEvents implements IntakeEvents {
  constructor(
    private readonly labels: { model: string; version: string },
    private readonly metrics: WorkerMetrics,
    private readonly starts: StartReporter,
    private readonly webhooks: WebhookAnnouncer,
    private readonly shadows: ShadowAnnouncer,
    private readonly log: Logger,
    /** Publishes a finished job's outcome to the process its data names (`replyTo`). */
    private readonly replies: Pick<JobReplier, 'followFinish' | 'finished'>,
  ) {}

  /** A job's processor settled: its answer goes out right behind BullMQ's record of it. */
  settling(job: Job<PredictionJobData>, worker: FinishingWorker): void {
    void this.replies.followFinish(worker, job);
  }

  /** A job taken into work: its wait in the queue is observed, its `start` event announced. */
  started(job: Job<PredictionJobData>): void {
    this.webhooks.announce(job, 'start');
    this.metrics.queueWait.observe(
      this.labels,
      Math.max(0, (job.processedOn ?? Date.now()) - job.timestamp) / 1000,
    );
  }

  /** A job that missed its deadline is counted; the error returned fails it for good. */
  expired(job: Job<PredictionJobData>): UnrecoverableError {
    this.metrics.expired.inc(this.labels);
    this.starts.report([job]);
    this.log.debug({ jobId: job.id, requestId: job.data.requestId }, 'job missed its deadline');
    return new UnrecoverableError(DEADLINE_EXCEEDED);
  }

  completed(job: Job<PredictionJobData, PredictionJobResult>): void {
    this.replyTo(job);
    this.count('completed');
    this.webhooks.announce(job, 'completed');
    this.shadows.announce(job);
  }

  failed(job: Job<PredictionJobData, PredictionJobResult> | undefined): void {
    this.count(job?.finishedOn ? 'failed' : 'retried');
    if (!job?.finishedOn) return;
    this.replyTo(job);
    this.webhooks.announce(job, 'completed');
    this.shadows.announce(job);
  }

  /** A reply lost costs its caller only a read: the job's state stays the record. */
  private replyTo(job: Job<PredictionJobData>): void {
    if (!job.data.replyTo) return;
    this.replies
      .finished(job)
      .catch((error: unknown) =>
        this.log.debug({ err: error, jobId: job.id }, 'reply not published; the job state answers'),
      );
  }

  private count(outcome: string): void {
    this.metrics.jobs.inc({ ...this.labels, outcome });
  }
}
