/**
 * Checks that transformers.js, fed a package laid out by `prepareTransformersJsModel`, answers
 * what modelfleet's handler answers: prints the top-1 agreement and the texts/s of both on the
 * first AG News test texts, and fails below `--min-agreement` (default 0.99).
 *
 *   npm run build && node dist/bench/transformers-js.check.js [--model <package>] [--limit 500] [--batch-size 32]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { classifyTexts, openModel, packingLimits, type Prediction } from '@app/handler';
import { DEMO_MODEL, agNewsTest, fmt } from './data';
import { prepareTransformersJsModel, runTransformersJs } from './transformers-js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: DEMO_MODEL },
      limit: { type: 'string', default: '500' },
      'batch-size': { type: 'string', default: '32' },
      'min-agreement': { type: 'string', default: '0.99' },
    },
  });
  const texts = agNewsTest(Number(values.limit)).map((r) => r.text);
  const batchSize = Number(values['batch-size']);

  const { pkg, handler } = await openModel(values.model, { device: 'cpu' });
  const start = performance.now();
  const outcome = await classifyTexts(handler, texts, packingLimits(pkg.manifest.batching));
  const ours = { seconds: (performance.now() - start) / 1000, labels: [] as number[] };
  ours.labels = (outcome.results as Prediction[]).map((p) => p.label);
  const truncated = (await handler.preprocess(texts)).filter(
    (e) => e.length >= pkg.manifest.max_length,
  ).length;
  await handler.dispose();

  const dir = mkdtempSync(join(tmpdir(), 'modelfleet-tjs-'));
  try {
    await prepareTransformersJsModel(values.model, dir);
    const theirs = await runTransformersJs(dir, texts, batchSize);
    const agree =
      ours.labels.filter((label, i) => label === theirs.labels[i]).length / texts.length;
    const rate = (r: { seconds: number }) => fmt(texts.length / r.seconds);
    process.stdout.write(
      [
        `${pkg.manifest.name} ${pkg.manifest.version}, ${texts.length} AG News test texts ` +
          `(${truncated} reach max_length ${pkg.manifest.max_length})`,
        `modelfleet classifyTexts (packed):       ${rate(ours)} texts/s`,
        `transformers.js (batches of ${batchSize}): ${rate(theirs)} texts/s`,
        `top-1 agreement: ${fmt(agree * 100, 2)}%`,
        '',
      ].join('\n'),
    );
    if (agree < Number(values['min-agreement'])) process.exitCode = 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
