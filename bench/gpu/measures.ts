/**
 * The measurements of the GPU benchmark, each on its own: the engine alone, CPU/GPU parity and
 * PyTorch eager (the whole fleet's: pipeline-measure.ts).
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
