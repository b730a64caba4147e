/**
 * The handler alone on the AG News test set: length-sorted batches packed under a token
 * budget versus the same texts unsorted in fixed batches of 32. Prints texts/s, padding
 * waste (padded tokens / real tokens - 1) and the ratio of the two.
 *
 *   npm run build && node dist/bench/handler.bench.js [--model <package>] [--limit N]
 */
import { parseArgs } from 'node:util';
import { batchTokens, classifyTexts, fixedBatches, openModel, packingLimits } from '@app/handler';
import { DEMO_MODEL, agNewsTest, fmt } from './data';

export interface HandlerFigures {
  textsPerSecond: number;
  paddingWaste: number;
  seconds: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { model: { type: 'string' }, limit: { type: 'string' } },
  });
  const texts = agNewsTest(values.limit ? Number(values.limit) : Infinity).map((r) => r.text);
  const { pkg, handler } = await openModel(values.model ?? DEMO_MODEL, { device: 'auto' });
  const limits = packingLimits(pkg.manifest.batching);

  const packed = await timed(async () => {
    const outcome = await classifyTexts(handler, texts, limits);
    const real = outcome.batches.reduce((s, b) => s + b.realTokens, 0);
    const padded = outcome.batches.reduce((s, b) => s + b.paddedTokens, 0);
    return padded / real - 1;
  });

  const fixed = await timed(async () => {
    const encoded = await handler.preprocess(texts);
    let real = 0;
    let padded = 0;
    for (const indices of fixedBatches(texts.length, 32)) {
      const batch = indices.map((i) => encoded[i]);
      handler.postprocess(await handler.inference(batch));
      const tokens = batchTokens(batch.map((e) => e.length));
      real += tokens.real;
      padded += tokens.padded;
    }
    return padded / real - 1;
  });

  const rate = (f: { seconds: number }) => texts.length / f.seconds;
  process.stdout.write(
    [
      `handler alone, ${pkg.manifest.name} ${pkg.manifest.version}, ${texts.length} AG News test texts`,
      `| batching | texts/s | padding waste |`,
      `|---|---:|---:|`,
      `| sorted, packed under ${limits.maxBatchTokens} tokens (max ${limits.maxBatchSize} rows) | ${fmt(rate(packed))} | ${fmt(packed.value * 100, 2)}% |`,
      `| unsorted, fixed batches of 32 | ${fmt(rate(fixed))} | ${fmt(fixed.value * 100, 2)}% |`,
      `packing speed-up: ${fmt(rate(packed) / rate(fixed), 2)}x`,
      '',
    ].join('\n'),
  );
  await handler.dispose();
}

async function timed<T>(run: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const start = performance.now();
  const value = await run();
  return { value, seconds: (performance.now() - start) / 1000 };
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
