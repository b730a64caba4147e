/**
 * The benchmark suite: for the demo model and a BERT-base-shaped model, side by side in one run,
 *  - the engine ceiling: the handler alone, length-sorted and token-budget-packed;
 *  - transformers.js (@huggingface/transformers) text-classification on the same ONNX graph
 *    and tokenizer, local files only, batches of 32 in input order;
 *  - modelfleet bulk scoring of the same texts through API, Redis and a worker;
 *  - online latency p50/p99 at several concurrencies, idle and while a bulk batch runs, against
 *    the bound 2 × idle p99 + BULK_PASS_MS (an online request waits for at most one bulk pass of
 *    about BULK_PASS_MS of work);
 *  - padding waste of the batches the worker formed.
 * Writes bench/results/latest.json and latest.md. Ratios within one run are the result.
 *
 *   BENCH_DATA=<data folder> npm run bench
 *     (see bench/data.ts; builds first; the BERT-base-shaped model is made by
 *     tools/make_bert_base.py when missing and python3-torch is there;
 *     --skip-transformers-js leaves transformers.js out, the slowest part, when only the
 *     system's own figures are wanted)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { classifyTexts, openModel, packingLimits } from '@app/handler';
import { workerSettings } from '../apps/worker/src/config';
import { ROOT } from '../test/support/paths';
import { DEMO_MODEL, agNewsTest, benchDataFile, fmt, percentile } from './data';
import { datasetOf, startBatch, timedBulkRun } from './bulk-run';
import { busyShare, gapBudget, loggedPasses, steadyBudget, steadyWindow } from './gap-budget';
import { startBenchStack } from './stack';
import { toMarkdown, type Latency, type ModelFigures } from './suite-report';
import { prepareTransformersJsModel, runTransformersJs } from './transformers-js';

const BERT_BASE = join(ROOT, 'bench', 'models', 'bert-base-random');
/** The worker's BULK_PASS_MS in this run (from the environment, else its default). */
const BULK_PASS_MS = workerSettings.shape.BULK_PASS_MS.parse(process.env.BULK_PASS_MS || undefined);

interface ModelPlan {
  label: string;
  dir: string;
  texts: number;
  /** Online requests per concurrency level. */
  requests: number;
  /** Copies of the texts in the bulk batch that runs beside the online requests. */
  bulkCopies: number;
  concurrencies: number[];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'demo-texts': { type: 'string' },
      'base-texts': { type: 'string' },
      'demo-only': { type: 'boolean' },
      'skip-transformers-js': { type: 'boolean' },
    },
  });
  const plans: ModelPlan[] = [
    {
      label: 'demo (2 layers, hidden 128)',
      dir: DEMO_MODEL,
      texts: Number(values['demo-texts'] ?? 7600),
      requests: 200,
      bulkCopies: 8,
      concurrencies: [1, 8, 32],
    },
  ];
  if (!values['demo-only'] && ensureBertBase()) {
    plans.push({
      label: 'BERT-base shape (12 layers, hidden 768)',
      dir: BERT_BASE,
      texts: Number(values['base-texts'] ?? 384),
      requests: 24,
      bulkCopies: 6,
      concurrencies: [1, 4],
    });
  }
  const figures: ModelFigures[] = [];
  for (const plan of plans) {
    process.stderr.write(`== ${plan.label}\n`);
    figures.push(await measure(plan, !values['skip-transformers-js']));
  }
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], {
    cwd: ROOT,
    encoding: 'utf8',
  }).stdout.trim();
  const report = {
    commit,
    date: new Date().toISOString(),
    cores: cpus().length,
    bulkPassMs: BULK_PASS_MS,
    figures,
  };
  const markdown = toMarkdown(report);
  const out = join(ROOT, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'latest.json'), JSON.stringify(report, null, 2));
  writeFileSync(join(out, 'latest.md'), markdown);
  process.stdout.write(markdown);
}

/** Makes the BERT-base-shaped package when it is missing and Python's torch is at hand. */
function ensureBertBase(): boolean {
  if (existsSync(join(BERT_BASE, 'model.onnx'))) return true;
  const vocab = benchDataFile('bert-base-uncased-vocab.txt');
  const made = spawnSync(
    '/usr/bin/python3',
    [join(ROOT, 'tools', 'make_bert_base.py'), vocab, BERT_BASE],
    { stdio: 'inherit' },
  );
  if (made.status !== 0)
    process.stderr.write('BERT-base-shaped model unavailable (needs python3-torch): skipped\n');
  return made.status === 0;
}

async function measure(plan: ModelPlan, withTransformersJs: boolean): Promise<ModelFigures> {
  const texts = agNewsTest(plan.texts).map((r) => r.text);

  // 1. The engine ceiling, in this process, warm.
  const { pkg, handler } = await openModel(plan.dir, { device: 'auto' });
  const limits = packingLimits(pkg.manifest.batching);
  // The best of two runs after a warm-up: the ceiling is never understated.
  await classifyTexts(handler, texts.slice(0, 64), limits);
  let engine = 0;
  let start = 0;
  for (let run = 0; run < 2; run++) {
    start = performance.now();
    await classifyTexts(handler, texts, limits);
    engine = Math.max(engine, texts.length / ((performance.now() - start) / 1000));
  }
  const full = await handler.preprocess(texts.slice(0, limits.maxBatchSize));
  // The second run of this shape: the first one pays for allocating it.
  await handler.inference(full);
  start = performance.now();
  await handler.inference(full);
  const fullBatchMs = performance.now() - start;
  await handler.dispose();
  process.stderr.write(`engine ${fmt(engine)} texts/s\n`);

  // 2. transformers.js on the same graph and tokenizer.
  const transformersJs = withTransformersJs ? await transformersJsRate(plan.dir, texts) : NaN;
  process.stderr.write(`transformers.js ${fmt(transformersJs)} texts/s\n`);

  // 3-5. Through the whole system.
  const bench = await startBenchStack(
    dirname(plan.dir),
    { MODELS: plan.dir.split('/').pop()!, BULK_PASS_MS: String(BULK_PASS_MS) },
    1,
    // The worker's `group scored` lines: when each forward pass ran (the gap budget).
    { LOG_LEVEL: 'debug' },
  );
  try {
    const model = pkg.manifest.name;
    const jsonl = datasetOf(texts);
    const workerUrl = await bench.stack.workerMetricsUrl(bench.stack.workers[0]);
    const workerMetrics = async () =>
      parseMetrics(await (await fetch(`${workerUrl}/metrics`)).text());
    const before = await workerMetrics();
    const run = await timedBulkRun(bench.stack.apiUrl, model, jsonl);
    const bulk = texts.length / ((run.completedAt - run.postedAt) / 1000);
    const passes = loggedPasses(bench.stack.workers[0].logs(), run.postedAt);
    const budget = gapBudget(run, passes);
    const steadyBusy = busyShare(passes, steadyWindow(passes));
    const after = await workerMetrics();
    const real = after.tokensReal - before.tokensReal;
    const padded = after.tokensPadded - before.tokensPadded;
    process.stderr.write(
      `bulk ${fmt(bulk)} texts/s, padding ${fmt((padded / real - 1) * 100, 2)}%\n`,
    );

    const online = async (concurrency: number): Promise<Latency> => {
      const latencies: number[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < plan.requests) {
            const text = texts[next++ % texts.length];
            const t0 = performance.now();
            const response = await bench.post(`/predictions/${model}`, { data: [text] });
            if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
            latencies.push(performance.now() - t0);
          }
        }),
      );
      return { concurrency, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
    };
    const idle: Latency[] = [];
    for (const c of plan.concurrencies) idle.push(await online(c));
    const duringBulk: Latency[] = [];
    const background = await startBatch(
      bench.stack.apiUrl,
      model,
      Array(plan.bulkCopies).fill(jsonl).join('\n'),
    );
    for (const c of plan.concurrencies) duringBulk.push(await online(c));
    const stillRunning = (await (
      await fetch(`${bench.stack.apiUrl}/v1/batches/${background}`)
    ).json()) as { status: string };
    if (stillRunning.status !== 'running')
      process.stderr.write('note: the bulk batch ended before the online runs did\n');
    await fetch(`${bench.stack.apiUrl}/v1/batches/${background}/cancel`, { method: 'POST' });
    return {
      model: plan.label,
      texts: texts.length,
      engineTextsPerSecond: engine,
      transformersJsTextsPerSecond: transformersJs,
      bulkTextsPerSecond: bulk,
      bulkPaddingWaste: padded / real - 1,
      budget,
      steadyBusy,
      steady: steadyBudget(passes),
      fullBatchMs,
      idle,
      duringBulk,
    };
  } finally {
    await bench.stop();
  }
}

async function transformersJsRate(dir: string, texts: string[]): Promise<number> {
  const layout = mkdtempSync(join(tmpdir(), 'modelfleet-tjs-'));
  try {
    await prepareTransformersJsModel(dir, layout);
    const tjs = await runTransformersJs(layout, texts, 32);
    return texts.length / tjs.seconds;
  } finally {
    rmSync(layout, { recursive: true, force: true });
  }
}

function parseMetrics(text: string) {
  const sum = (name: string, filter = '') =>
    text
      .split('\n')
      .filter((l) => l.startsWith(name) && l.includes(filter))
      .reduce((s, l) => s + Number(l.split(' ').pop()), 0);
  return {
    tokensReal: sum('modelfleet_tokens_total{', 'kind="real"'),
    tokensPadded: sum('modelfleet_tokens_total{', 'kind="padded"'),
  };
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
