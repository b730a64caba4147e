import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BatchRecord } from '@app/handler';
import type { RuntimeReport } from './runtime/protocol';

const LABELS = ['model', 'version'] as const;

/** Every metric a worker exposes, defined once. Units are in the names. */
export class WorkerMetrics {
  readonly registry = new Registry();

  readonly jobs = new Counter({
    name: 'modelfleet_worker_jobs_total',
    help: 'Prediction jobs finished by this worker',
    labelNames: [...LABELS, 'outcome'],
    registers: [this.registry],
  });

  readonly expired = new Counter({
    name: 'modelfleet_worker_jobs_expired_total',
    help: 'Jobs failed as deadline_exceeded: their deadline passed before a batch took them',
    labelNames: LABELS,
    registers: [this.registry],
  });

  readonly queueWait = new Histogram({
    name: 'modelfleet_queue_wait_seconds',
    help: 'Time a job waited in its queue before a worker took it',
    labelNames: LABELS,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });

  readonly inference = new Histogram({
    name: 'modelfleet_inference_duration_seconds',
    help: 'Duration of one forward pass',
    labelNames: LABELS,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  readonly batchSize = new Histogram({
    name: 'modelfleet_batch_size',
    help: 'Texts per forward pass',
    labelNames: LABELS,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
    registers: [this.registry],
  });

  readonly batchTokens = new Histogram({
    name: 'modelfleet_batch_tokens',
    help: 'Padded tokens per forward pass',
    labelNames: LABELS,
    buckets: [16, 64, 256, 1024, 2048, 4096, 8192, 16384, 32768],
    registers: [this.registry],
  });

  readonly padding = new Histogram({
    name: 'modelfleet_padding_ratio',
    help: 'Padding per forward pass: padded tokens / real tokens - 1',
    labelNames: LABELS,
    buckets: [0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2],
    registers: [this.registry],
  });

  readonly tokens = new Counter({
    name: 'modelfleet_tokens_total',
    help: 'Tokens through forward passes: real, and padded (real plus padding)',
    labelNames: [...LABELS, 'kind'],
    registers: [this.registry],
  });

  readonly cacheTexts = new Counter({
    name: 'modelfleet_worker_result_cache_texts_total',
    help: "Texts looked up in a version's result cache: answered from it (hit), or by inference (miss)",
    labelNames: [...LABELS, 'outcome'],
    registers: [this.registry],
  });

  readonly threadDeaths = new Counter({
    name: 'modelfleet_worker_inference_thread_deaths_total',
    help: 'Inference threads of this worker that ended unasked (each is restarted, or the worker exits)',
    labelNames: LABELS,
    registers: [this.registry],
  });

  readonly loadFailures = new Gauge({
    name: 'modelfleet_worker_version_load_failures',
    help: 'Failed loads in a row of a version this worker should serve (0 once it loads; the reason is in the registry)',
    labelNames: LABELS,
    registers: [this.registry],
  });

  readonly throughput = new Gauge({
    name: 'modelfleet_worker_throughput_texts_per_second',
    help: 'Texts per second answered while the version had jobs in hand (moving average, as heartbeats report it)',
    labelNames: LABELS,
    registers: [this.registry],
  });

  readonly provider = new Gauge({
    name: 'modelfleet_worker_provider_info',
    help: 'Where a served version runs: 1 per version, labelled by the execution provider that took its graph and the ONNX Runtime version',
    labelNames: [...LABELS, 'provider', 'onnxruntime'],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Records the forward passes of one group. */
  observeBatches(labels: { model: string; version: string }, batches: readonly BatchRecord[]) {
    for (const batch of batches) {
      this.inference.observe(labels, batch.inferenceMs / 1000);
      this.batchSize.observe(labels, batch.size);
      this.batchTokens.observe(labels, batch.paddedTokens);
      this.padding.observe(labels, batch.paddedTokens / batch.realTokens - 1);
      this.tokens.inc({ ...labels, kind: 'real' }, batch.realTokens);
      this.tokens.inc({ ...labels, kind: 'padded' }, batch.paddedTokens);
    }
  }
}

/** The provider labels of a version's runtime. */
export function runtimeLabels(runtime: RuntimeReport): { provider: string; onnxruntime: string } {
  return { provider: runtime.provider, onnxruntime: runtime.onnxruntime };
}
