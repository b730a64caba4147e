/**
 * The whole fleet's measurement for the GPU benchmark: bulk scoring through API, Redis and one
 * worker with the GPU's utilisation, then online latency at each client count.
 */
import { spawn } from 'node:child_process';
import { basename, dirname } from 'node:path';
import { datasetOf, timedBulkRun } from '../bulk-run';
import { fmt, percentile } from '../data';
import {
  busyShare,
  gapBudget,
  loggedPasses,
  steadyBudget,
  steadyWindow,
  type GapBudget,
  type SteadyBudget,
} from '../gap-budget';
import { startBenchStack } from '../stack';
import { note } from './measures';

export interface Latency {
  clients: number;
  requests: number;
  textsPerSecond: number;
  p50: number;
  p99: number;
}

export interface PipelineFigures {
  model: string;
  /** The provider the worker reports in the registry (GET /models/:name). */
  registryDevice: string;
  /** The provider label of the worker's modelfleet_worker_provider_info metric. */
  metricProvider: string;
  bulkTexts: number;
  bulkTextsPerSecond: number;
  /** Where the bulk run's wall time went, from the worker's forward passes. */
  budget: GapBudget;
  /** Share of the bulk run's steady window the worker spent in forward passes. */
  steadyBusy: number;
  /** The steady window cut as the budget is (in passes, between them). */
  steady: SteadyBudget;
  /** nvidia-smi utilisation.gpu samples (%) during the bulk run; empty without nvidia-smi. */
  gpuUtilisation: { samples: number; mean: number; p50: number; max: number };
  online: Latency[];
}

/** Bulk scoring through API, Redis and one worker, then online latency at each client count. */
export async function measurePipeline(
  dir: string,
  env: Record<string, string>,
  texts: readonly string[],
  clientCounts: readonly number[],
  requestsPerLevel: number,
): Promise<PipelineFigures> {
  const bench = await startBenchStack(
    dirname(dir),
    { MODELS: basename(dir), INTRA_OP_THREADS: '0', ...env },
    1,
    // The worker's `group scored` lines: when each forward pass ran (the gap budget).
    { LOG_LEVEL: 'debug' },
  );
  try {
    const listed = (await bench.stack.manage('GET', '/models')).body as {
      models: { modelName: string }[];
    };
    const name = listed.models[0].modelName;
    const detail = (await bench.stack.manage('GET', `/models/${name}`)).body as {
      workers: { device: string }[];
    }[];
    const registryDevice = detail[0]?.workers[0]?.device ?? 'none';
    const worker = await bench.stack.workerMetricsUrl(bench.stack.workers[0]);
    const metrics = await (await fetch(`${worker}/metrics`)).text();
    const metricProvider =
      /modelfleet_worker_provider_info\{[^}]*provider="([^"]+)"/.exec(metrics)?.[1] ?? 'none';
    note(`pipeline: worker serves ${name} on ${registryDevice} (metric: ${metricProvider})`);

    const sampler = sampleGpu();
    const run = await timedBulkRun(bench.stack.apiUrl, name, datasetOf(texts));
    const samples = sampler.stop();
    const passes = loggedPasses(bench.stack.workers[0].logs(), run.postedAt);
    const bulkTextsPerSecond = texts.length / ((run.completedAt - run.postedAt) / 1000);
    note(`pipeline: bulk ${fmt(bulkTextsPerSecond)} texts/s`);

    const online: Latency[] = [];
    for (const clients of clientCounts) {
      const requests = Math.max(requestsPerLevel, clients * 4);
      const latencies: number[] = [];
      let next = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: clients }, async () => {
          while (next < requests) {
            const text = texts[next++ % texts.length];
            const s = performance.now();
            const answer = await bench.post(`/predictions/${name}`, { data: [text] });
            if (answer.status !== 200) throw new Error(`HTTP ${answer.status}`);
            latencies.push(performance.now() - s);
          }
        }),
      );
      const seconds = (performance.now() - t0) / 1000;
      online.push({
        clients,
        requests,
        textsPerSecond: requests / seconds,
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
      });
      note(`pipeline: ${clients} clients p50 ${fmt(online.at(-1)!.p50, 2)} ms`);
    }
    return {
      model: name,
      registryDevice,
      metricProvider,
      bulkTexts: texts.length,
      bulkTextsPerSecond,
      budget: gapBudget(run, passes),
      steadyBusy: busyShare(passes, steadyWindow(passes)),
      steady: steadyBudget(passes),
      gpuUtilisation: {
        samples: samples.length,
        mean: samples.reduce((a, b) => a + b, 0) / (samples.length || 1),
        p50: samples.length ? percentile(samples, 50) : 0,
        max: samples.length ? Math.max(...samples) : 0,
      },
      online,
    };
  } finally {
    await bench.stop();
  }
}

/** Samples nvidia-smi's GPU utilisation every 100 ms until stopped (nothing without it). */
function sampleGpu(): { stop: () => number[] } {
  const samples: number[] = [];
  const child = spawn(
    'nvidia-smi',
    ['--query-gpu=utilization.gpu', '--format=csv,noheader,nounits', '-lms', '100'],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  child.on('error', () => undefined);
  child.stdout?.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) {
      const value = Number(line.trim());
      if (line.trim() && Number.isFinite(value)) samples.push(value);
    }
  });
  return {
    stop: () => {
      child.kill();
      return samples;
    },
  };
}
