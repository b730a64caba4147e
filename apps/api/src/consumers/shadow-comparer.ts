import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import type { Job } from 'bullmq';
import { PinoLogger } from 'nestjs-pino';
import { SHADOW_QUEUE, isRedisUnavailable, type ShadowComparisonData } from '@app/common';
import { ApiMetrics } from '../metrics/api-metrics';
import { PredictionStore } from '../predictions/prediction.store';
import { compareAnswers } from '../shadow/answer-comparison';
import { ShadowStore } from '../shadow/shadow.store';

/** Why a copy was not compared, or that it was. */
type Outcome =
  'compared' | 'primary_failed' | 'primary_gone' | 'primary_unfinished' | 'shadow_failed';

/** The primary has not finished: the comparison is tried again later. */
class PrimaryUnfinished extends Error {
  override readonly name = 'PrimaryUnfinished';
}

/**
 * Compares a shadow's answer with the primary's: a worker of the shadow version puts each copy
 * it finished on SHADOW_QUEUE. The primary usually finished first (its job went on the online
 * queue before the copy went on the bulk one); when it has not, the comparison is tried again
 * with backoff, and counted as `primary_unfinished` at the last try.
 */
@Processor(SHADOW_QUEUE, { concurrency: 8 })
export class ShadowComparer extends WorkerHost {
  constructor(
    private readonly predictions: PredictionStore,
    private readonly store: ShadowStore,
    private readonly metrics: ApiMetrics,
    private readonly logger: PinoLogger,
  ) {
    super();
  }

  @OnWorkerEvent('error')
  onError(error: Error): void {
    if (isRedisUnavailable(error)) return;
    this.logger.error({ err: error }, 'shadow comparison consumer error');
  }

  @OnWorkerEvent('failed')
  onFailed(job: Job<ShadowComparisonData> | undefined, error: Error): void {
    if (error instanceof PrimaryUnfinished || error.name === 'PrimaryUnfinished') return;
    this.logger.warn(
      { err: error, predictionId: job?.data.predictionId },
      'shadow comparison failed',
    );
  }

  async process(job: Job<ShadowComparisonData>): Promise<Outcome> {
    const { model, predictionId, shadowVersion, since } = job.data;
    const labels = { model, version: shadowVersion };
    const outcome = await this.compare(job);
    if (typeof outcome === 'string') {
      await this.store.record(model, since, { [outcome]: 1 });
      this.metrics.shadowComparisons.inc({ ...labels, outcome });
      return outcome;
    }
    const { texts, result } = outcome;
    const comparison = compareAnswers(predictionId, texts, result.primary, result.shadow);
    const recorded = await this.store.record(
      model,
      since,
      {
        compared: 1,
        texts: comparison.texts,
        agreed: comparison.agreed,
        probability_texts: comparison.differences.length,
        probability_difference: comparison.differences.reduce((sum, d) => sum + d, 0),
      },
      comparison.disagreements,
    );
    // A comparison of a setting replaced meanwhile counts nowhere, in metrics neither.
    if (!recorded) return 'compared';
    this.metrics.shadowComparisons.inc({ ...labels, outcome: 'compared' });
    this.metrics.shadowTexts.inc({ ...labels, agreement: 'agreed' }, comparison.agreed);
    this.metrics.shadowTexts.inc(
      { ...labels, agreement: 'disagreed' },
      comparison.texts - comparison.agreed,
    );
    for (const difference of comparison.differences)
      this.metrics.shadowProbabilityDifference.observe(labels, difference);
    return 'compared';
  }

  /** Both answers, or why there are not two to compare. */
  private async compare(
    job: Job<ShadowComparisonData>,
  ): Promise<
    | Exclude<Outcome, 'compared'>
    | { texts: string[]; result: { primary: unknown[]; shadow: unknown[] } }
  > {
    const shadow = job.data.output;
    if (!shadow) return 'shadow_failed';
    const found = await this.predictions.findJob(job.data.predictionId);
    if (!found?.job || found.state === 'canceled') return 'primary_gone';
    if (found.state === 'failed') return 'primary_failed';
    if (found.state !== 'completed') {
      if (job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) return 'primary_unfinished';
      throw new PrimaryUnfinished(`prediction ${job.data.predictionId} has not finished`);
    }
    const primary = found.job.returnvalue;
    return {
      texts: found.job.data.texts,
      result: { primary: primary.output, shadow },
    };
  }
}
