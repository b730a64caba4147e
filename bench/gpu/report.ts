import { spawnSync } from 'node:child_process';
import { fmt } from '../data';
import { budgetRows, steadyRows } from '../gap-budget';
import type { GpuReport, ModelFigures } from './gpu.bench';
import type { EngineFigures } from './measures';

/** `NVIDIA H100 80GB HBM3, driver 580.x`, or `no GPU` where nvidia-smi is missing. */
export function gpuName(): string {
  const run = spawnSync(
    'nvidia-smi',
    ['--query-gpu=name,driver_version', '--format=csv,noheader'],
    {
      encoding: 'utf8',
    },
  );
  const line = run.status === 0 ? run.stdout.trim().split('\n')[0] : '';
  return line ? line.replace(', ', ', driver ') : 'no GPU';
}

const ratio = (a: number, b: number) => (b > 0 ? `${fmt(a / b, 2)}x` : '—');

function provider(e: EngineFigures): string {
  if (!e.nodes) return e.provider;
  const total = Object.values(e.nodes).reduce((a, b) => a + b, 0);
  return `${e.provider} (${e.nodes.CUDAExecutionProvider ?? 0}/${total} nodes on CUDA)`;
}

/** The model's PyTorch eager figure; a fused graph's is that of the plain model it came from. */
function eagerOf(r: GpuReport, m: ModelFigures): ModelFigures['eager'] {
  return m.plainOf ? r.models.find((x) => x.label === m.plainOf)?.eager : m.eager;
}

function eagerRate(r: GpuReport, m: ModelFigures): number {
  const eager = eagerOf(r, m);
  return eager && 'textsPerSecond' in eager ? eager.textsPerSecond : 0;
}

/** The report as Markdown tables: engine, parity, fleet. */
export function toMarkdown(r: GpuReport): string {
  const lines = [
    `GPU benchmark at commit \`${r.commit}\`, ${r.date.slice(0, 10)}: ${r.gpu}, ${r.cores} CPU cores, DEVICE=${r.device}, ${r.engineTexts} AG News texts (max 128 tokens).`,
    '',
    '| model | precision | provider used | engine texts/s | padding | PyTorch eager fp16, batch 64 (texts/s) | engine / eager |',
    '|---|---|---|---:|---:|---:|---:|',
  ];
  for (const m of r.models) {
    const eager = eagerRate(r, m);
    for (const [precision, e] of [
      ['fp32', m.fp32],
      ['fp16', m.fp16],
    ] as const) {
      if (!e) continue;
      lines.push(
        `| ${m.label} | ${precision} | ${provider(e)} | ${fmt(e.textsPerSecond)} | ${fmt(e.paddingWaste * 100, 2)}% | ${precision === 'fp16' ? (eager ? fmt(eager) : eagerOf(r, m) && 'error' in eagerOf(r, m)! ? 'failed' : '—') : ''} | ${precision === 'fp16' && eager ? ratio(e.textsPerSecond, eager) : ''} |`,
      );
    }
    if (m.fp16)
      lines.push(
        `| ${m.label} | fp16 / fp32 | | ${ratio(m.fp16.textsPerSecond, m.fp32.textsPerSecond)} | | | |`,
      );
  }
  lines.push(
    '',
    '| model | texts | CPU vs device, fp32: labels agree | max abs logit diff | device fp16 vs fp32: labels agree | max abs logit diff | fused vs plain, device fp32: labels agree | max abs logit diff |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...r.models.map(
      (m) =>
        `| ${m.label} | ${m.parity?.texts ?? 0} | ${pct(m.parity?.labelAgreement)} | ${sci(m.parity?.maxAbsLogitDiff)} | ${pct(m.fp16Parity?.labelAgreement)} | ${sci(m.fp16Parity?.maxAbsLogitDiff)} | ${pct(m.fusedParity?.labelAgreement)} | ${sci(m.fusedParity?.maxAbsLogitDiff)} |`,
    ),
  );
  for (const p of r.pipelines) {
    const threads = `${p.sessions} inference thread${p.sessions === 1 ? '' : 's'} (INFERENCE_THREADS)`;
    if ('error' in p) {
      lines.push('', `Fleet run with ${threads} failed: ${p.error}`);
      continue;
    }
    const ceiling = p.ceiling || ceilingOf(r, p.model);
    lines.push(
      '',
      `Fleet (API, Redis, one worker with ${threads}) on \`${p.model}\`: the worker reports \`${p.registryDevice}\` in the registry and \`${p.metricProvider}\` in its metrics.`,
      '',
      '| inference threads | bulk texts | fleet bulk texts/s | engine ceiling texts/s | fleet / ceiling | GPU utilisation mean / p50 / max |',
      '|---:|---:|---:|---:|---:|---:|',
      `| ${p.sessions} | ${p.bulkTexts} | ${fmt(p.bulkTextsPerSecond)} | ${fmt(ceiling)} | ${ratio(p.bulkTextsPerSecond, ceiling)} | ${p.gpuUtilisation.samples ? `${fmt(p.gpuUtilisation.mean)}% / ${p.gpuUtilisation.p50}% / ${p.gpuUtilisation.max}%` : 'not sampled'} |`,
      '',
      `The worker was in forward passes ${fmt(100 * p.steadyBusy)}% of the bulk run's steady window (the span of its passes less the first and last tenth; the target of ≥ 85% GPU utilisation reads nvidia-smi over the whole bulk run, above). Where the bulk run's wall time went:`,
      '',
      ...budgetRows(p.budget),
      '',
      ...steadyRows(p.steady),
      '',
      '| online clients, 1 text per request | requests | texts/s | p50 ms | p99 ms |',
      '|---:|---:|---:|---:|---:|',
      ...p.online.map(
        (o) =>
          `| ${o.clients} | ${o.requests} | ${fmt(o.textsPerSecond)} | ${fmt(o.p50, 2)} | ${fmt(o.p99, 2)} |`,
      ),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** The engine figure of the package the fleet served (matched by its model name). */
function ceilingOf(r: GpuReport, model: string): number {
  const base = model.startsWith('bert-base')
    ? r.models.find((m) => m.label.startsWith('base'))
    : r.models[0];
  const engine = base?.fp16 ?? base?.fp32;
  return engine?.textsPerSecond ?? 0;
}

const pct = (x?: number) => (x === undefined ? '—' : `${fmt(x * 100, 2)}%`);
const sci = (x?: number) => (x === undefined ? '—' : x.toExponential(1));
