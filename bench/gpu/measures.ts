/**
 * The measurements of the GPU benchmark, each on its own: the engine alone, CPU/GPU parity,
 * PyTorch eager, and the whole fleet (API, Redis, one worker) with the GPU's utilisation.
 */
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import {
  classifyTexts,
  openModel,
  packByTokenBudget,
  packingLimits,
  type DeviceChoice,
  type EncodedText,
  type Handler,
  type InferenceOutput,
  type Placement,
} from '@app/handler';
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

/** The engine alone (the handler, length-sorted and packed), best of two timed runs. */
export interface EngineFigures {
  provider: string;
  nodes?: Record<string, number>;
  textsPerSecond: number;
  paddingWaste: number;
}

type Classifier = Handler<unknown> & { provider?: string; placement?: Placement };

async function open(dir: string, device: DeviceChoice) {
  const { pkg, handler } = await openModel(dir, { device, log: (m) => note(m) });
  return { pkg, handler: handler as Classifier, limits: packingLimits(pkg.manifest.batching) };
}

/** Prints a progress line on stderr (the table goes to stdout). */
export function note(message: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`);
}

export async function measureEngine(
  dir: string,
  device: DeviceChoice,
  texts: readonly string[],
): Promise<EngineFigures> {
  const { handler, limits } = await open(dir, device);
  try {
    // Answers as typed arrays, as a worker's inference thread makes them.
    const options = { rowScores: true };
    await classifyTexts(handler, texts.slice(0, 512), limits, options);
    let best = 0;
    let waste = 0;
    for (let run = 0; run < 2; run++) {
      const start = performance.now();
      const outcome = await classifyTexts(handler, texts, limits, options);
      const rate = texts.length / ((performance.now() - start) / 1000);
      if (rate > best) {
        best = rate;
        const real = outcome.batches.reduce((s, b) => s + b.realTokens, 0);
        waste = outcome.batches.reduce((s, b) => s + b.paddedTokens, 0) / real - 1;
      }
    }
    return {
      provider: handler.provider ?? 'cpu',
      nodes: handler.placement?.nodes,
      textsPerSecond: best,
      paddingWaste: waste,
    };
  } finally {
    await handler.dispose();
  }
}

/** Agreement of two sessions on the same packed batches. */
export interface ParityFigures {
  texts: number;
  labelAgreement: number;
  maxAbsLogitDiff: number;
}

/** Logits of every batch, packed the same way for each session. */
async function logitsOf(dir: string, device: DeviceChoice, texts: readonly string[]) {
  const { handler, limits } = await open(dir, device);
  try {
    const encoded = await handler.preprocess(texts);
    const outputs: { rows: number[]; output: InferenceOutput }[] = [];
    for (const rows of packByTokenBudget(
      encoded.map((e) => e.length),
      limits,
    )) {
      const batch: EncodedText[] = rows.map((i) => encoded[i]);
      outputs.push({ rows, output: await handler.inference(batch) });
    }
    const width = outputs[0]?.output.width ?? 0;
    const logits = new Float32Array(texts.length * width);
    for (const { rows, output } of outputs) {
      rows.forEach((text, r) =>
        logits.set(output.data.subarray(r * width, (r + 1) * width), text * width),
      );
    }
    return { logits, width, provider: handler.provider ?? 'cpu' };
  } finally {
    await handler.dispose();
  }
}

/** Labels and logits of package `a` on `deviceA` against package `b` on `deviceB`. */
export async function measureParity(
  a: { dir: string; device: DeviceChoice },
  b: { dir: string; device: DeviceChoice },
  texts: readonly string[],
): Promise<ParityFigures> {
  const x = await logitsOf(a.dir, a.device, texts);
  const y = await logitsOf(b.dir, b.device, texts);
  let agree = 0;
  let maxDiff = 0;
  for (let t = 0; t < texts.length; t++) {
    let bestX = 0;
    let bestY = 0;
    for (let k = 0; k < x.width; k++) {
      const i = t * x.width + k;
      maxDiff = Math.max(maxDiff, Math.abs(x.logits[i] - y.logits[i]));
      if (x.logits[i] > x.logits[t * x.width + bestX]) bestX = k;
      if (y.logits[i] > y.logits[t * y.width + bestY]) bestY = k;
    }
    if (bestX === bestY) agree++;
  }
  return { texts: texts.length, labelAgreement: agree / texts.length, maxAbsLogitDiff: maxDiff };
}

/**
 * PyTorch eager (the seed's engine): the fp32 package's weights in torch, in `precision`, batches
 * of 64 texts in input order padded to each batch's longest; tokens from the serving tokenizer.
 */
export async function measureTorchEager(
  python: string,
  fp32Dir: string,
  texts: readonly string[],
  scratch: string,
): Promise<{ textsPerSecond: number; device: string } | { error: string }> {
  const { handler } = await open(fp32Dir, 'cpu');
  const ids = (await handler.preprocess(texts)).map((e) => e.ids);
  await handler.dispose();
  const idsFile = join(scratch, 'eager-ids.json');
  writeFileSync(idsFile, JSON.stringify(ids));
  const script = join(__dirname, '..', '..', '..', 'bench', 'gpu', 'torch_eager.py');
  const run = spawnSync(python, [script, fp32Dir, idsFile, '--batch', '64'], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  const last = (run.stdout ?? '').trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as { textsPerSecond: number; device: string };
  } catch {
    return { error: `${run.stderr ?? ''}`.trim().split('\n').slice(-3).join(' | ') || 'no output' };
  }
}

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
