import { fmt } from './data';
import { budgetRows, steadyRows, type GapBudget, type SteadyBudget } from './gap-budget';

/** Bulk scoring should keep this share of the engine ceiling. */
export const BULK_TARGET = 0.9;

/** Online latency at one concurrency, in ms. */
export interface Latency {
  concurrency: number;
  p50: number;
  p99: number;
}

/** What the suite measured of one model. */
export interface ModelFigures {
  model: string;
  texts: number;
  engineTextsPerSecond: number;
  transformersJsTextsPerSecond: number;
  bulkTextsPerSecond: number;
  bulkPaddingWaste: number;
  /** Where the bulk run's wall time went, from the worker's passes. */
  budget: GapBudget;
  /** Share of the bulk run's steady window the worker spent in forward passes. */
  steadyBusy: number;
  /** The steady window cut as the budget is. */
  steady: SteadyBudget;
  /** One forward pass of a full batch (max_batch_size mid-length texts), in ms. */
  fullBatchMs: number;
  idle: Latency[];
  duringBulk: Latency[];
}

/**
 * The suite's report as Markdown: throughput against the engine ceiling, online latency, and
 * each bulk run's gap budget.
 */
export function toMarkdown(report: {
  commit: string;
  date: string;
  cores: number;
  bulkPassMs: number;
  figures: ModelFigures[];
}): string {
  const verdict = (met: boolean) => (met ? '(met)' : '(missed)');
  const ratio = (a: number, b: number) => (Number.isNaN(a / b) ? '—' : `${fmt(a / b, 2)}x`);
  const lines = [
    `Benchmarks at commit \`${report.commit}\`, ${report.date.slice(0, 10)}, ${report.cores} CPU cores, AG News test texts (\`npm run bench\`).`,
    '',
    `| model | texts | engine ceiling (texts/s) | transformers.js (texts/s) | modelfleet bulk (texts/s) | bulk / ceiling (target ≥ ${BULK_TARGET}) | bulk / transformers.js | padding waste (worker batches) |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...report.figures.map(
      (f) =>
        `| ${f.model} | ${f.texts} | ${fmt(f.engineTextsPerSecond)} | ${fmt(f.transformersJsTextsPerSecond)} | ${fmt(f.bulkTextsPerSecond)} | ${ratio(f.bulkTextsPerSecond, f.engineTextsPerSecond)} ${verdict(f.bulkTextsPerSecond >= BULK_TARGET * f.engineTextsPerSecond)} | ${ratio(f.bulkTextsPerSecond, f.transformersJsTextsPerSecond)} | ${fmt(f.bulkPaddingWaste * 100, 2)}% |`,
    ),
    '',
    `| model | online clients | idle p50 / p99 (ms) | during bulk p50 / p99 (ms) | one full pass (ms) | bound: 2 × idle p99 + BULK_PASS_MS (${report.bulkPassMs} ms) |`,
    '|---|---:|---:|---:|---:|---:|',
    ...report.figures.flatMap((f) =>
      f.idle.map((idle, i) => {
        const busy = f.duringBulk[i];
        const bound = 2 * idle.p99 + report.bulkPassMs;
        return `| ${f.model} | ${idle.concurrency} | ${fmt(idle.p50, 1)} / ${fmt(idle.p99, 1)} | ${fmt(busy.p50, 1)} / ${fmt(busy.p99, 1)} | ${fmt(f.fullBatchMs, 1)} | ${fmt(bound, 1)} ${verdict(busy.p99 <= bound)} |`;
      }),
    ),
    '',
    ...report.figures.flatMap((f) => [
      `Bulk run of ${f.model}: the worker in forward passes ${fmt(100 * f.steadyBusy)}% of its steady window (the span of its passes less the first and last tenth).`,
      '',
      ...budgetRows(f.budget),
      '',
      ...steadyRows(f.steady),
      '',
    ]),
  ];
  return lines.join('\n');
}
