/**
 * The GPU benchmark: everything measured in one run on one machine, printed as a table and
 * written to <out>/gpu.json and <out>/gpu.md. bench/gpu/run.sh runs it on a GPU host; a test
 * runs it on the CPU with the demo packages and small sizes, so it cannot rot.
 *
 *   node dist/bench/gpu/gpu.bench.js --device cuda --texts data.jsonl --out results \
 *     --model demo=models/ag-news-bert,demo-fp16=<dir> --model base=<dir>,base-fp16=<dir> \
 *     [--model fused=<dir>,fused-fp16=<dir>,plain=<base dir>] [--pipeline fused-fp16] \
 *     [--sessions 1,2] [--eager-python python3] [--bulk 20000] [--clients 1,64,256]
 *
 * For each model: the engine alone in fp32 and fp16 (provider really used, texts/s), the
 * labels and logits of a CPU and a device session of the fp32 graph on the same batches, fp16
 * against fp32 on the device, PyTorch eager fp16 at batch 64 (a fused graph, `plain=` naming the
 * package it was fused from, is set against that package on the device instead, and its eager
 * figure is the plain one's), and, for the --pipeline package, bulk scoring through API, Redis and
 * one worker with the GPU's utilisation sampled, then online latency with one text per request at
 * each client count: once per number of inference threads in --sessions (INFERENCE_THREADS, with
 * BULK_GROUPS_IN_FLIGHT one more).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { DeviceChoice } from '@app/handler';
import { fmt } from '../data';
import {
  measureEngine,
  measureParity,
  measureTorchEager,
  note,
  type EngineFigures,
  type ParityFigures,
} from './measures';
import { measurePipeline, type PipelineFigures } from './pipeline-measure';
import { gpuName, toMarkdown } from './report';

/** One model in its two precisions; a fused graph names the plain package it was fused from. */
interface ModelPair {
  label: string;
  fp32: string;
  fp16?: string;
  plain?: string;
}

export interface ModelFigures {
  label: string;
  fp32: EngineFigures;
  fp16?: EngineFigures;
  /** CPU session against device session of the fp32 graph. */
  parity?: ParityFigures;
  /** fp16 against fp32, both on the device. */
  fp16Parity?: ParityFigures;
  /** A fused graph's fp32 against the plain package's fp32 it was fused from, on the device. */
  fusedParity?: ParityFigures;
  /** The label of the plain model a fused graph was made from. */
  plainOf?: string;
  eager?: { textsPerSecond: number; device: string } | { error: string };
}

/** The fleet run at one number of inference threads. */
export type FleetRun =
  | (PipelineFigures & { sessions: number; ceiling: number })
  | {
      sessions: number;
      error: string;
    };

export interface GpuReport {
  commit: string;
  date: string;
  device: DeviceChoice;
  gpu: string;
  cores: number;
  engineTexts: number;
  models: ModelFigures[];
  pipelines: FleetRun[];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      device: { type: 'string', default: 'cuda' },
      texts: { type: 'string' },
      model: { type: 'string', multiple: true, default: [] },
      pipeline: { type: 'string' },
      'pipeline-env': { type: 'string', multiple: true, default: [] },
      sessions: { type: 'string', default: '1' },
      'eager-python': { type: 'string' },
      'engine-texts': { type: 'string', default: '20000' },
      parity: { type: 'string', default: '1000' },
      bulk: { type: 'string', default: '20000' },
      clients: { type: 'string', default: '1,64,256' },
      requests: { type: 'string', default: '2000' },
      commit: { type: 'string', default: 'unknown' },
      out: { type: 'string', default: 'bench/results' },
    },
  });
  const device = values.device as DeviceChoice;
  const pool = readTexts(values.texts!);
  const take = (n: number) => Array.from({ length: n }, (_, i) => pool[i % pool.length]);
  const pairs = values.model.map(parsePair);
  const engineOf = new Map<string, EngineFigures>();
  const packages = new Map(
    pairs.flatMap((p) => [
      [`${p.label}`, p.fp32],
      [`${p.label}-fp16`, p.fp16 ?? ''],
    ]),
  );
  const engineTexts = take(Number(values['engine-texts']));
  const parityTexts = take(Number(values.parity));
  const out = resolve(values.out);
  mkdirSync(out, { recursive: true });

  const models: ModelFigures[] = [];
  for (const pair of pairs) {
    note(`== ${pair.label}`);
    const figures: ModelFigures = {
      label: pair.label,
      fp32: await measureEngine(pair.fp32, device, engineTexts),
    };
    note(
      `${pair.label} fp32 engine: ${fmt(figures.fp32.textsPerSecond)} texts/s on ${figures.fp32.provider}`,
    );
    if (pair.fp16) {
      figures.fp16 = await measureEngine(pair.fp16, device, engineTexts);
      note(
        `${pair.label} fp16 engine: ${fmt(figures.fp16.textsPerSecond)} texts/s on ${figures.fp16.provider}`,
      );
    }
    figures.parity = await measureParity(
      { dir: pair.fp32, device: 'cpu' },
      { dir: pair.fp32, device },
      parityTexts,
    );
    if (pair.fp16) {
      figures.fp16Parity = await measureParity(
        { dir: pair.fp32, device },
        { dir: pair.fp16, device },
        parityTexts,
      );
    }
    if (pair.plain) {
      figures.plainOf = pairs.find((p) => p.fp32 === pair.plain)?.label;
      figures.fusedParity = await measureParity(
        { dir: pair.plain, device },
        { dir: pair.fp32, device },
        parityTexts,
      );
    } else if (values['eager-python']) {
      figures.eager = await measureTorchEager(
        values['eager-python'],
        pair.fp32,
        engineTexts,
        tmpdir(),
      );
      note(`${pair.label} torch eager: ${JSON.stringify(figures.eager)}`);
    }
    models.push(figures);
    // The first pair to measure a package gives its ceiling.
    if (!engineOf.has(pair.fp32)) engineOf.set(pair.fp32, figures.fp32);
    if (pair.fp16 && figures.fp16 && !engineOf.has(pair.fp16))
      engineOf.set(pair.fp16, figures.fp16);
  }

  const pipelines: FleetRun[] = [];
  if (values.pipeline) {
    const dir = packages.get(values.pipeline) || resolve(values.pipeline);
    const env = Object.fromEntries(
      values['pipeline-env'].map((kv): [string, string] => {
        const [name, value = ''] = kv.split('=', 2);
        return [name, value];
      }),
    );
    for (const sessions of values.sessions.split(',').map(Number)) {
      const threads = {
        INFERENCE_THREADS: String(sessions),
        BULK_GROUPS_IN_FLIGHT: String(sessions + 1),
      };
      try {
        const figures = await measurePipeline(
          dir,
          { DEVICE: device, ...threads, ...env },
          take(Number(values.bulk)),
          values.clients.split(',').map(Number),
          Number(values.requests),
        );
        pipelines.push({ ...figures, sessions, ceiling: engineCeiling(engineOf, dir) });
      } catch (error) {
        const message = String(error instanceof Error ? error.message : error);
        pipelines.push({ sessions, error: message });
        note(`pipeline with ${sessions} inference thread(s) failed: ${message}`);
      }
    }
  }

  const report: GpuReport = {
    commit: values.commit,
    date: new Date().toISOString(),
    device,
    gpu: gpuName(),
    cores: cpus().length,
    engineTexts: engineTexts.length,
    models,
    pipelines,
  };
  const markdown = toMarkdown(report);
  writeFileSync(join(out, 'gpu.json'), JSON.stringify(report, null, 2));
  writeFileSync(join(out, 'gpu.md'), markdown);
  process.stdout.write(markdown);
}

/** `label=fp32dir[,label-fp16=fp16dir][,plain=plainFp32Dir]`. */
function parsePair(spec: string): ModelPair {
  const [first, ...rest] = spec.split(',').map((kv) => kv.split('='));
  const [label, fp32] = first;
  const fp16 = rest.find(([key]) => key !== 'plain')?.[1];
  const plain = rest.find(([key]) => key === 'plain')?.[1];
  return {
    label,
    fp32: resolve(fp32),
    fp16: fp16 ? resolve(fp16) : undefined,
    plain: plain ? resolve(plain) : undefined,
  };
}

/** The engine figure of the package the fleet serves (0 when it was not measured alone). */
function engineCeiling(engines: Map<string, EngineFigures>, dir: string): number {
  return engines.get(resolve(dir))?.textsPerSecond ?? 0;
}

/** Texts of a JSON-lines file with a `text` field. */
function readTexts(file: string): string[] {
  const texts = readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { text: string }).text);
  if (texts.length === 0) throw new Error(`${file} holds no texts`);
  return texts;
}

// Exits at once: a fleet that failed to start may leave child processes holding the loop.
main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
