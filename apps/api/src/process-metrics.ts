import cluster, { type Worker } from 'node:cluster';
import {
  AggregatorRegistry,
  Registry,
  type MetricObjectWithValues,
  type MetricValue,
} from 'prom-client';

/** What prom-client's listener in an API process answers to (see `shareMetricsWithPrimary`). */
const REQUEST = 'prom-client:getMetricsReq';
const RESPONSE = 'prom-client:getMetricsRes';

type Metrics = MetricObjectWithValues<MetricValue<string>>[];

interface Response {
  type?: string;
  requestId?: string;
  metrics?: Metrics[];
}

/** Metric types whose values only grow while a process lives: an exited one's are kept. */
const CUMULATIVE = new Set(['counter', 'histogram', 'summary']);

/**
 * The primary's `/metrics` over its API processes: each process's registry (asked over IPC, as
 * prom-client's AggregatorRegistry asks), added up. Unlike `clusterMetrics`, the sums never go
 * back: a process that exits (a crash, a restart) leaves its last counters, histograms and
 * summaries in the sums (its gauges leave with it), and a process that does not answer within
 * `timeoutMs` counts with its last answer. Without that, every crash of one process made each
 * counter of the sum drop, which Prometheus reads as a reset and `rate()` as a burst.
 */
export class ProcessMetrics {
  private readonly last = new Map<Worker, Metrics[]>();
  /** What exited processes left, summed; updated one exit at a time. */
  private retired: Promise<Metrics> = Promise.resolve([]);
  private sequence = 0;
  private readonly pending = new Map<string, (worker: Worker, metrics: Metrics[]) => void>();

  // Not an AggregatorRegistry: its listener in the primary throws on answers it did not ask for.
  readonly contentType = Registry.PROMETHEUS_CONTENT_TYPE;

  constructor(private readonly timeoutMs = 5000) {
    cluster.on('message', (worker: Worker, message: Response) => {
      if (message?.type !== RESPONSE || !message.requestId || !message.metrics) return;
      this.pending.get(message.requestId)?.(worker, message.metrics);
    });
  }

  /** Keeps what only grows of a process that exited. */
  retire(worker: Worker): void {
    const last = this.last.get(worker);
    this.last.delete(worker);
    if (!last) return;
    const kept = last.map((metrics) => metrics.filter((m) => CUMULATIVE.has(String(m.type))));
    this.retired = this.retired.then((retired) => sumOf([retired, ...kept]));
  }

  /** The metrics of every process, added up, in Prometheus text. */
  async metrics(): Promise<string> {
    const workers = Object.values(cluster.workers ?? {}).filter(
      (w): w is Worker => !!w && w.isConnected(),
    );
    const requestId = `modelfleet:${this.sequence++}`;
    const answered = new Set<Worker>();
    await new Promise<void>((done) => {
      const timer = setTimeout(done, this.timeoutMs);
      this.pending.set(requestId, (worker, metrics) => {
        // An answer that comes after its process was retired would count that process twice.
        if (!worker.isDead()) this.last.set(worker, metrics);
        answered.add(worker);
        if (workers.every((w) => answered.has(w) || !w.isConnected())) {
          clearTimeout(timer);
          done();
        }
      });
      for (const worker of workers) worker.send({ type: REQUEST, requestId });
      if (workers.length === 0) done();
    });
    this.pending.delete(requestId);
    const live = [...this.last.values()].flat();
    return AggregatorRegistry.aggregate([await this.retired, ...live]).metrics();
  }
}

/** Metrics of several registries added up, as one registry's list. */
async function sumOf(registries: Metrics[]): Promise<Metrics> {
  const summed = await AggregatorRegistry.aggregate(registries).getMetricsAsJSON();
  return summed;
}
