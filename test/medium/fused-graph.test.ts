import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MANIFEST_FILE, openModel, type Handler, type InferenceOutput } from '@app/handler';
import { DEMO_MODEL } from '../support/paths';
import { pythonToolsSkipped, runPythonTool } from '../support/python-tools';
import { agNewsSample } from '../support/texts';

const skip = pythonToolsSkipped(['torch', 'onnx', 'onnxruntime']);

/**
 * 1,000 texts: the 400 AG News fixture rows, then each of the first 300 with its words in reverse
 * order and each of the first 300 cut to its first half (at least 3 words), so lengths and padding
 * vary more than in the fixture alone.
 */
function parityTexts(): string[] {
  const rows = agNewsSample(400);
  const words = rows.slice(0, 300).map((text) => text.split(/\s+/).filter(Boolean));
  return [
    ...rows,
    ...words.map((w) => [...w].reverse().join(' ')),
    ...words.map((w) => w.slice(0, Math.max(3, Math.ceil(w.length / 2))).join(' ')),
  ];
}

/** The logits of `texts` through the handler, in input order, in right-padded batches of 50. */
async function logitsOf(handler: Handler<unknown>, texts: readonly string[]) {
  const encoded = await handler.preprocess(texts);
  const passes: InferenceOutput[] = [];
  for (let start = 0; start < encoded.length; start += 50) {
    passes.push(await handler.inference(encoded.slice(start, start + 50)));
  }
  const width = passes[0].width;
  const data = new Float32Array(texts.length * width);
  passes.forEach((pass, i) => data.set(pass.data, i * 50 * width));
  return { data, width };
}

function argmax(row: Float32Array): number {
  return row.reduce((best, value, k) => (value > row[best] ? k : best), 0);
}

/** Label agreement and largest logit difference of two runs over the same texts. */
function compare(a: { data: Float32Array; width: number }, b: { data: Float32Array }) {
  const rows = a.data.length / a.width;
  let agree = 0;
  let maxDiff = 0;
  for (let r = 0; r < rows; r++) {
    const [x, y] = [a.data, b.data].map((d) => d.subarray(r * a.width, (r + 1) * a.width));
    if (argmax(x) === argmax(y)) agree++;
    x.forEach((v, k) => (maxDiff = Math.max(maxDiff, Math.abs(v - y[k]))));
  }
  return { agreement: agree / rows, maxDiff };
}

/** The counts of the tool's `fused operators: Attention 2, ...` line. */
function fusedCounts(stdout: string): Record<string, number> {
  const line = /^fused operators: (.*)$/m.exec(stdout);
  assert.ok(line, `no fused operator counts in:\n${stdout}`);
  return Object.fromEntries(
    line[1].split(', ').map((pair) => {
      const [op, count] = pair.split(' ');
      return [op, Number(count)];
    }),
  );
}

describe('tools/optimize_graph.py: the fused graph of the demo model', { skip }, () => {
  const texts = parityTexts();
  const folder = mkdtempSync(join(tmpdir(), 'modelfleet-fused-'));
  let plainLogits: { data: Float32Array; width: number };
  let fp32: ReturnType<typeof optimize>;

  /** Runs the tool on the demo package into `folder/<name>`; the new package and what it printed. */
  function optimize(name: string, ...args: string[]) {
    const out = join(folder, name);
    const run = runPythonTool('optimize_graph.py', [DEMO_MODEL, out, ...args]);
    assert.equal(run.status, 0, run.stderr);
    const manifest = JSON.parse(readFileSync(join(out, MANIFEST_FILE), 'utf8'));
    return { out, stdout: run.stdout, manifest };
  }

  before(async () => {
    const { handler } = await openModel(DEMO_MODEL, { device: 'cpu' });
    plainLogits = await logitsOf(handler, texts);
    await handler.dispose();
    fp32 = optimize('fp32');
  });
  after(() => rmSync(folder, { recursive: true, force: true }));

  it('fuses attention, layer norms and GELU, and says so in the manifest', async () => {
    const counts = fusedCounts(fp32.stdout);
    assert.ok(counts.Attention + counts.MultiHeadAttention > 0, fp32.stdout);
    assert.ok(counts.SkipLayerNormalization > 0, fp32.stdout);
    assert.ok(counts.BiasGelu + counts.FastGelu > 0, fp32.stdout);
    assert.equal(fp32.manifest.precision, 'fp32');
    assert.equal(fp32.manifest.graph_optimization.model_type, 'bert');
    assert.equal(fp32.manifest.graph_optimization.fused_operators.Attention, counts.Attention);
    const { handler, pkg } = await openModel(fp32.out, { device: 'cpu' });
    await handler.dispose();
    assert.deepEqual(pkg.manifest.graph_optimization, fp32.manifest.graph_optimization);
  });

  it('keeps every label of 1,000 texts through the handler, logits within 1e-3 (fp32)', async (t) => {
    const { handler } = await openModel(fp32.out, { device: 'cpu' });
    const parity = compare(plainLogits, await logitsOf(handler, texts));
    await handler.dispose();
    t.diagnostic(
      `fp32: labels ${parity.agreement * 100}% equal, max |logit diff| ${parity.maxDiff}`,
    );
    assert.equal(texts.length, 1000);
    assert.equal(parity.agreement, 1, `labels agree on ${parity.agreement * 100}% of texts`);
    assert.ok(parity.maxDiff < 1e-3, `logits differ by up to ${parity.maxDiff}`);
  });

  it('writes an fp16 package with the same inputs and outputs that agrees with fp32', async (t) => {
    const fp16 = optimize('fp16', '--precision', 'fp16', '--version', '1-fused-fp16');
    assert.ok(fusedCounts(fp16.stdout).Attention > 0, fp16.stdout);
    assert.equal(fp16.manifest.precision, 'fp16');
    assert.equal(fp16.manifest.version, '1-fused-fp16');
    assert.ok(!fp16.manifest.extra_files.includes('reference.json'));
    const { handler } = await openModel(fp16.out, { device: 'cpu' });
    const parity = compare(plainLogits, await logitsOf(handler, texts));
    await handler.dispose();
    t.diagnostic(
      `fp16: labels ${parity.agreement * 100}% equal, max |logit diff| ${parity.maxDiff}`,
    );
    assert.ok(parity.agreement >= 0.99, `labels agree on ${parity.agreement * 100}% of texts`);
    assert.ok(parity.maxDiff < 1e-2, `logits differ by up to ${parity.maxDiff}`);
  });

  it('refuses a package whose graph is already optimized, saying so, and writes nothing', () => {
    const again = join(folder, 'again');
    const run = runPythonTool('optimize_graph.py', [fp32.out, again]);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /the graph is already optimized/);
    assert.throws(() => readFileSync(join(again, MANIFEST_FILE)), { code: 'ENOENT' });
  });
});
