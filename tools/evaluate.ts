/**
 * Accuracy, calibration error and confusion matrix of a model package on the official AG News
 * test split, measured with the Node handler itself (the code that serves), not in Python.
 *
 *   node dist/tools/evaluate.js <test.csv> [package]
 *
 * test.csv columns: class (1-4), title, description; the text is "title description".
 * `ece` is the expected calibration error of the answered `probability` over 15 equal-width
 * bins: the mean, weighted by the bins' rows, of |accuracy - mean probability| per bin.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'csv-parse/sync';
import { classifyTexts, openModel, type Prediction, packingLimits } from '@app/handler';

async function main(): Promise<void> {
  const [csvFile, location = resolve(__dirname, '..', '..', 'models', 'ag-news-bert')] =
    process.argv.slice(2);
  if (!csvFile) throw new Error('usage: evaluate <test.csv> [package]');
  const rows: string[][] = parse(readFileSync(csvFile), { relax_column_count: false });
  const texts = rows.map(([, title, description]) => `${title} ${description}`);
  const gold = rows.map(([label]) => Number(label) - 1);
  const { pkg, handler } = await openModel(location, { device: 'auto' });
  const limits = packingLimits(pkg.manifest.batching);
  const start = performance.now();
  const { results } = await classifyTexts(handler, texts, limits);
  const predictions = results as Prediction[];
  const seconds = (performance.now() - start) / 1000;
  const labels = pkg.labels;
  const confusion = labels.map(() => labels.map(() => 0));
  let correct = 0;
  predictions.forEach((p, i) => {
    confusion[gold[i]][p.label]++;
    if (p.label === gold[i]) correct++;
  });
  const report = {
    model: `${pkg.manifest.name} ${pkg.manifest.version}`,
    rows: texts.length,
    accuracy: correct / texts.length,
    ece: expectedCalibrationError(predictions, gold),
    seconds: Number(seconds.toFixed(2)),
    labels,
    confusion,
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  await handler.dispose();
}

/** Expected calibration error of the top probability over `bins` equal-width bins of (0, 1]. */
function expectedCalibrationError(
  predictions: readonly Prediction[],
  gold: readonly number[],
  bins = 15,
): number {
  const count = new Array<number>(bins).fill(0);
  const right = new Array<number>(bins).fill(0);
  const confidence = new Array<number>(bins).fill(0);
  predictions.forEach((p, i) => {
    const bin = Math.min(bins - 1, Math.max(0, Math.ceil(p.probability * bins) - 1));
    count[bin]++;
    confidence[bin] += p.probability;
    if (p.label === gold[i]) right[bin]++;
  });
  let ece = 0;
  for (let b = 0; b < bins; b++) {
    if (count[b]) ece += Math.abs(right[b] - confidence[b]) / predictions.length;
  }
  return ece;
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
