import { Inject, Injectable } from '@nestjs/common';
import { DEADLINE_EXCEEDED, VERSION_UNREGISTERED, type PredictionJobResult } from '@app/common';
import type { VersionRecord } from '@app/registry';
import { API_CONFIG, type ApiConfig } from '../config';
import { ModelCatalog, type LiveVersion, type ResolvedVersion } from '../core/model-catalog';
import { Problem } from '../core/problem';
import { ApiMetrics } from '../metrics/api-metrics';
import { Admission } from './admission';
import { deadlineExceeded } from './deadline';
import type { CreatePrediction } from './prediction.service';
import { RequestCoalescer } from './request-coalescer';

/**
 * The story of a sync prediction, as TorchServe's API, the Open Inference Protocol and gRPC
 * tell it: resolve the version once, refuse at once what cannot be answered in time (no live
 * worker, too much queued), put the texts on the version's queue with others that came at the
 * same moment, and wait for the answer. Never touches HTTP or Redis keys.
 */
@Injectable()
export class SyncPredictionService {
  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly catalog: ModelCatalog,
    private readonly admission: Admission,
    private readonly coalescer: RequestCoalescer,
    private readonly metrics: ApiMetrics,
  ) {}

  /**
   * Enqueues a job and waits for its result. `resolved` is the version a caller resolved
   * already (to name it in its answer); else `request.model` and `request.version` are resolved.
   */
  async predict(
    request: Omit<CreatePrediction, 'webhook'>,
    resolved?: ResolvedVersion,
  ): Promise<PredictionJobResult> {
    const target = resolved ?? (await this.catalog.resolve(request.model, request.version));
    const { record } = target;
    const labels = { model: record.name, version: record.version };
    const count = (outcome: string) =>
      this.metrics.predictions.inc({ ...labels, kind: 'sync', outcome });
    let live: LiveVersion;
    try {
      live = await this.catalog.live(record);
      if (live.workers === 0) throw noWorker(record);
    } catch (error) {
      count('unserved');
      throw error;
    }
    await this.admission.admitSync(record, request.texts.length, live);
    const start = performance.now();
    // A deadline before SYNC_TIMEOUT_MS is what ends a wait that times out.
    const deadlineFirst =
      request.deadline !== undefined && request.deadline - Date.now() < this.config.SYNC_TIMEOUT_MS;
    const { id, outcome } = await this.coalescer.answer(target, request);
    if (outcome.status === 'completed') {
      count('succeeded');
      this.metrics.predictionDuration.observe(labels, (performance.now() - start) / 1000);
      return outcome.value as PredictionJobResult;
    }
    if (
      outcome.status === 'failed'
        ? outcome.reason === DEADLINE_EXCEEDED
        : outcome.status === 'timeout' && deadlineFirst
    ) {
      count('deadline_exceeded');
      throw deadlineExceeded(id);
    }
    if (outcome.status === 'failed' && outcome.reason === VERSION_UNREGISTERED) {
      count('unserved');
      throw unregistered(record, id);
    }
    if (outcome.status === 'failed') {
      count('failed');
      throw new Problem(500, 'Prediction failed', outcome.reason, { id });
    }
    count('timeout');
    throw new Problem(
      504,
      'Prediction timed out',
      `no answer within ${this.config.SYNC_TIMEOUT_MS} ms; poll its URL`,
      { id, url: `/v1/predictions/${id}` },
    );
  }
}

/** 503: the version was unregistered, and no worker drained its queue, before this call ran. */
function unregistered(record: VersionRecord, id: string): Problem {
  return new Problem(
    503,
    'Version unregistered',
    `${record.name} version ${record.version} was unregistered before a worker took this call`,
    { id, model: record.name, version: record.version },
  );
}

/** 503: no live worker serves the version, so a sync caller does not hang. */
function noWorker(record: VersionRecord): Problem {
  return new Problem(
    503,
    'No worker',
    `no live worker serves ${record.name} version ${record.version}`,
    { model: record.name, version: record.version },
  );
}
