import type { Job, Queue } from 'bullmq';
import {
  shadowComparisonOptions,
  type Logger,
  type PredictionJobData,
  type PredictionJobResult,
  type ShadowComparisonData,
} from '@app/common';

/**
 * Puts each shadow copy this worker finished (answered, or failed for good) on the queue of
 * shadow comparisons, with its answer, for the API to compare with the primary's. The copy and
 * the comparison live on different queues (and hash tags), so no Redis script spans both.
 */
export class ShadowAnnouncer {
  constructor(
    private readonly queue: Queue<ShadowComparisonData>,
    private readonly logger: Logger,
  ) {}

  /** Announces `job` if it is a shadow copy; its errors are logged, never thrown. */
  announce(job: Job<PredictionJobData, PredictionJobResult>): void {
    const { shadow, model, version } = job.data;
    if (!shadow) return;
    const result = job.returnvalue as PredictionJobResult | null | undefined;
    const data: ShadowComparisonData = {
      ...shadow,
      model,
      shadowVersion: version,
      ...(result ? { output: result.output } : { error: job.failedReason || 'no answer' }),
    };
    this.queue
      .add('compare', data, shadowComparisonOptions(shadow.predictionId))
      .catch((error) =>
        this.logger.error({ err: error, jobId: job.id }, 'cannot announce a shadow answer'),
      );
  }
}
