import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { QueueCounts, VersionQueues } from '@app/common';
import { versionKey, type ModelRegistry } from '@app/registry';

/** Every metric the API process exposes, defined once. Units are in the names. */
export class ApiMetrics {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: 'modelfleet_http_requests_total',
    help: 'Requests answered, by transport (http; grpc: a call, its route the method path and its status the gRPC code), route, method and status',
    labelNames: ['transport', 'app', 'route', 'method', 'status'],
    registers: [this.registry],
  });

  readonly predictions = new Counter({
    name: 'modelfleet_predictions_total',
    help: 'Prediction requests by model, version, kind (sync or async) and outcome',
    labelNames: ['model', 'version', 'kind', 'outcome'],
    registers: [this.registry],
  });

  readonly predictionDuration = new Histogram({
    name: 'modelfleet_prediction_duration_seconds',
    help: 'End-to-end duration of sync predictions, from enqueue to answer',
    labelNames: ['model', 'version'],
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly webhookDeliveries = new Counter({
    name: 'modelfleet_webhook_deliveries_total',
    help: 'Webhook delivery attempts by outcome (delivered, retrying, dead_letter)',
    labelNames: ['outcome'],
    registers: [this.registry],
  });

  readonly jobReplies = new Counter({
    name: 'modelfleet_job_replies_total',
    help: "Answers read on this process's reply channel, by outcome (awaited, unawaited: its caller had stopped waiting)",
    labelNames: ['outcome'],
    registers: [this.registry],
  });

  readonly shed = new Counter({
    name: 'modelfleet_shed_total',
    help: 'Online requests refused to shed load, by kind (sync: 503, async: 429) and reason',
    labelNames: ['model', 'version', 'kind', 'reason'],
    registers: [this.registry],
  });

  readonly estimatedWait = new Gauge({
    name: 'modelfleet_estimated_queue_wait_seconds',
    help: 'Estimated wait of a new online job: queued jobs over the throughput workers report',
    labelNames: ['model', 'version'],
    // Read from Redis by every API process alike: several report it once, not added up.
    aggregator: 'max',
    registers: [this.registry],
  });

  readonly shadowCopies = new Counter({
    name: 'modelfleet_shadow_copies_total',
    help: "Copies of online jobs for a model's shadow version, by outcome (queued, dropped while its backlog is at SHADOW_MAX_BACKLOG, error)",
    labelNames: ['model', 'version', 'outcome'],
    registers: [this.registry],
  });

  readonly shadowComparisons = new Counter({
    name: 'modelfleet_shadow_comparisons_total',
    help: 'Shadow copies answered, by outcome (compared, primary_failed, primary_gone, primary_unfinished, shadow_failed)',
    labelNames: ['model', 'version', 'outcome'],
    registers: [this.registry],
  });

  readonly shadowTexts = new Counter({
    name: 'modelfleet_shadow_texts_total',
    help: "Texts whose shadow answer was compared with the primary's, by agreement (agreed, disagreed)",
    labelNames: ['model', 'version', 'agreement'],
    registers: [this.registry],
  });

  readonly shadowProbabilityDifference = new Histogram({
    name: 'modelfleet_shadow_probability_difference',
    help: "Per text, |primary's probability of its label - shadow's probability of that class|",
    labelNames: ['model', 'version'],
    buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });

  constructor(registry: ModelRegistry, queues: VersionQueues) {
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'modelfleet_queue_jobs',
      help: 'Jobs in each model version queue (online or bulk), by state',
      labelNames: ['model', 'version', 'queue', 'state'],
      // Read from Redis by every API process alike: several report it once, not added up.
      aggregator: 'max',
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const model of await registry.listModels()) {
          for (const v of model.versions) {
            const backlog = await queues.backlog(v.name, v.version);
            for (const queue of ['online', 'bulk'] as const) {
              const counts: Record<keyof QueueCounts, number> = backlog[queue];
              for (const [state, count] of Object.entries(counts)) {
                this.set({ model: v.name, version: v.version, queue, state }, count);
              }
            }
          }
        }
      },
    });
    new Gauge({
      name: 'modelfleet_serving_failures',
      help: 'Standing failures to serve, by subject (name@version, or package:<location>) and source (worker id, or api)',
      labelNames: ['subject', 'source'],
      // Read from Redis by every API process alike: several report it once, not added up.
      aggregator: 'max',
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const [subject, failures] of await registry.failures()) {
          for (const failure of failures) this.set({ subject, source: failure.source }, 1);
        }
      },
    });
    new Gauge({
      name: 'modelfleet_workers',
      help: 'Live workers serving each model version',
      labelNames: ['model', 'version'],
      // Read from Redis by every API process alike: several report it once, not added up.
      aggregator: 'max',
      registers: [this.registry],
      async collect() {
        this.reset();
        const counts = await registry.workerCounts();
        for (const model of await registry.listModels()) {
          for (const v of model.versions) {
            this.set(
              { model: v.name, version: v.version },
              counts.get(versionKey(v.name, v.version)) ?? 0,
            );
          }
        }
      },
    });
  }
}
