/**
 * A package against its fused graph (tools/optimize_graph.py) on the CPU, the handler alone:
 *  - the engine: `classifyTexts` on AG News test texts, packed as the plain package's manifest says;
 *  - one forward pass of --pass rows × tokens (64x64 by default; the median of --passes).
 * The two packages take turns, --rounds times, so that a busy machine slows both alike; the
 * medians and their ratio are the result. Labels of the two are compared as well.
 *
 *   BENCH_DATA=<data folder> node dist/bench/fused-graph.bench.js --plain <package> --fused <package>
 *     [--limit 2000] [--rounds 5] [--pass 64x64] [--passes 20] [--threads 0]
 */
import { parseArgs } from 'node:util';
import {
  classifyTexts,
  openModel,
  packingLimits,
  type EncodedText,
  type Handler,
  type Prediction,
} from '@app/handler';
import { agNewsTest, fmt, percentile } from './data';

interface Contender {
  name: string;
  handler: Handler<Prediction>;
  textsPerSecond: number[];
  passMs: number[];
  labels: number[];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      plain: { type: 'string' },
      fused: { type: 'string' },
      limit: { type: 'string', default: '2000' },
      rounds: { type: 'string', default: '5' },
      pass: { type: 'string', default: '64x64' },
      passes: { type: 'string', default: '20' },
      threads: { type: 'string', default: '0' },
    },
  });
  if (!values.plain || !values.fused) throw new Error('--plain <package> and --fused <package>');
  const texts = agNewsTest(Number(values.limit)).map((r) => r.text);
  const intraOpNumThreads = Number(values.threads);
  const contenders: Contender[] = [];
  let limits: ReturnType<typeof packingLimits> | undefined;
  for (const [role, dir] of [
    ['plain', values.plain],
    ['fused', values.fused],
  ]) {
    const { pkg, handler } = await openModel(dir, { device: 'cpu', intraOpNumThreads });
    limits ??= packingLimits(pkg.manifest.batching);
    const fusion = pkg.manifest.graph_optimization?.fused_operators ?? {};
    const described = [
      pkg.manifest.precision,
      ...Object.entries(fusion).map(([op, n]) => `${op} ${n}`),
    ];
    contenders.push({
      name: `${role} (${described.join(', ')})`,
      handler: handler as Handler<Prediction>,
      textsPerSecond: [],
      passMs: [],
      labels: [],
    });
  }
  const [rows, tokens] = values.pass.split('x').map(Number);
  const pass = await squareBatch(contenders[0].handler, texts, rows, tokens);

  for (const c of contenders) await classifyTexts(c.handler, texts.slice(0, 64), limits!);
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const c of contenders) {
      const start = performance.now();
      const outcome = await classifyTexts(c.handler, texts, limits!);
      c.textsPerSecond.push(texts.length / ((performance.now() - start) / 1000));
      c.labels = outcome.results.map((p) => p.label);
      for (let i = 0; i < Number(values.passes) / Number(values.rounds); i++) {
        const t0 = performance.now();
        await c.handler.inference(pass);
        c.passMs.push(performance.now() - t0);
      }
    }
  }

  const [plain, fused] = contenders;
  const median = (v: number[]) => percentile(v, 50);
  const agree = plain.labels.filter((l, i) => l === fused.labels[i]).length;
  process.stdout.write(
    [
      `${texts.length} AG News test texts, ${values.rounds} rounds in turn, intra-op threads ${intraOpNumThreads || 'ORT default'}`,
      `| graph | engine texts/s (median) | per round | ${rows}×${tokens} pass, ms (median) |`,
      `|---|---:|---|---:|`,
      ...contenders.map(
        (c) =>
          `| ${c.name} | ${fmt(median(c.textsPerSecond))} | ${c.textsPerSecond.map((v) => fmt(v, 0)).join(' ')} | ${fmt(median(c.passMs), 1)} |`,
      ),
      `fused / plain: engine ${fmt(median(fused.textsPerSecond) / median(plain.textsPerSecond), 2)}x, ` +
        `${rows}×${tokens} pass ${fmt(median(plain.passMs) / median(fused.passMs), 2)}x; labels equal on ${agree} of ${texts.length}`,
      '',
    ].join('\n'),
  );
  for (const c of contenders) await c.handler.dispose();
}

/** `rows` texts of exactly `tokens` ids each (a text repeated until long enough, then cut). */
async function squareBatch(
  handler: Handler<unknown>,
  texts: string[],
  rows: number,
  tokens: number,
) {
  const encoded = await handler.preprocess(texts.map((t) => `${t} ${t} ${t}`));
  const long = encoded.filter((e) => e.length >= tokens).slice(0, rows);
  if (long.length < rows) throw new Error(`fewer than ${rows} texts of ${tokens} tokens`);
  return long.map((e): EncodedText => ({ ids: e.ids.slice(0, tokens), length: tokens }));
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
