import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  ModelPackageError,
  classifyTexts,
  loadModelPackage,
  openModel,
  packingLimits,
  type Placement,
  type Prediction,
} from '@app/handler';
import { demoPackageCopy } from '../support/packages';
import { DEMO_MODEL, ROOT } from '../support/paths';
import { agNewsSample } from '../support/texts';

const FP16_MODEL = join(ROOT, 'test', 'fixtures', 'ag-news-bert-fp16');

/** Runs a compiled script of the project and returns its exit code and output. */
function runScript(script: string, args: string[]) {
  const run = spawnSync(process.execPath, [join(ROOT, 'dist', script), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 180_000,
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('the GPU path, on a machine without a GPU', () => {
  it('gpu:prepare fails with one line naming the missing CUDA libraries', () => {
    const empty = mkdtempSync(join(tmpdir(), 'modelfleet-nocuda-'));
    const { status, stderr } = runScript('tools/gpu-prepare.js', [
      '--from',
      empty,
      '--cuda-path',
      empty,
      '--out',
      join(empty, 'gpu'),
    ]);
    assert.equal(status, 1);
    const lines = stderr.trim().split('\n');
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0], /^gpu:prepare: no CUDA 13 libraries found \(missing libcudart\.so\.13,/);
  });

  it('reports the provider as cpu, with no CUDA placement, when the graph runs on the CPU', async () => {
    const { handler } = await openModel(DEMO_MODEL, { device: 'cpu' });
    const classifier = handler as unknown as { provider: string; placement?: Placement };
    assert.equal(classifier.provider, 'cpu');
    assert.equal(classifier.placement, undefined);
    await handler.dispose();
  });

  it('loads the fp16 package, whose manifest says so, and classifies close to fp32', async () => {
    const texts = agNewsSample(300);
    const fp32 = await openModel(DEMO_MODEL, { device: 'cpu' });
    const fp16 = await openModel(FP16_MODEL, { device: 'cpu' });
    assert.equal(fp32.pkg.manifest.precision, 'fp32');
    assert.equal(fp16.pkg.manifest.precision, 'fp16');
    const limits = packingLimits(fp16.pkg.manifest.batching);
    const a = (await classifyTexts(fp32.handler, texts, limits)).results as Prediction[];
    const b = (await classifyTexts(fp16.handler, texts, limits)).results as Prediction[];
    const agree = a.filter((p, i) => p.label === b[i].label).length / texts.length;
    const drift = Math.max(...a.map((p, i) => Math.abs(p.probability - b[i].probability)));
    assert.ok(agree >= 0.99, `labels agree on ${agree * 100}% of texts`);
    assert.ok(drift < 0.02, `probabilities differ by up to ${drift}`);
    await fp32.handler.dispose();
    await fp16.handler.dispose();
  });

  it('rejects a precision the handler does not know, naming the field', async () => {
    const dir = demoPackageCopy((manifest) => (manifest.precision = 'int8'));
    await assert.rejects(loadModelPackage(dir), (error: Error) => {
      assert.ok(error instanceof ModelPackageError);
      assert.match(error.message, /precision: /);
      return true;
    });
  });

  it('pads batches to the manifest multiple and keeps the answers', async () => {
    const texts = agNewsSample(40);
    const plain = await openModel(DEMO_MODEL, { device: 'cpu' });
    const padded = await openModel(
      demoPackageCopy((m) => ((m.batching as Record<string, unknown>).pad_to_multiple_of = 8)),
      { device: 'cpu' },
    );
    const limits = packingLimits(plain.pkg.manifest.batching);
    const a = (await classifyTexts(plain.handler, texts, limits)).results as Prediction[];
    const b = (await classifyTexts(padded.handler, texts, limits)).results as Prediction[];
    a.forEach((p, i) => {
      assert.equal(p.label, b[i].label);
      assert.ok(Math.abs(p.probability - b[i].probability) < 1e-4);
    });
    await plain.handler.dispose();
    await padded.handler.dispose();
  });

  it('runs the GPU benchmark script on the CPU end to end, the fleet reporting cpu', () => {
    const dir = mkdtempSync(join(tmpdir(), 'modelfleet-gpubench-'));
    const textsFile = join(dir, 'texts.jsonl');
    writeFileSync(
      textsFile,
      agNewsSample(64)
        .map((text) => JSON.stringify({ text }))
        .join('\n'),
    );
    const { status, stdout, stderr } = runScript('bench/gpu/gpu.bench.js', [
      '--device',
      'cpu',
      '--texts',
      textsFile,
      '--model',
      `demo=${DEMO_MODEL},demo-fp16=${FP16_MODEL}`,
      // A pair that names the plain package it was made from is set against it on the device:
      // here the demo model itself, which agrees with itself on every label.
      '--model',
      `itself=${DEMO_MODEL},plain=${DEMO_MODEL}`,
      '--pipeline',
      DEMO_MODEL,
      '--sessions',
      '1,2',
      '--engine-texts',
      '64',
      '--parity',
      '32',
      '--bulk',
      '64',
      '--clients',
      '1,2',
      '--requests',
      '8',
      '--out',
      join(dir, 'out'),
    ]);
    assert.equal(status, 0, stderr);
    assert.match(stdout, /\| demo \| fp16 \| cpu \|/);
    const report = JSON.parse(readFileSync(join(dir, 'out', 'gpu.json'), 'utf8'));
    assert.equal(report.models[0].fp32.provider, 'cpu');
    assert.equal(report.models[0].parity.labelAgreement, 1);
    assert.ok(report.models[0].fp16Parity.labelAgreement >= 0.9);
    assert.equal(report.models[1].plainOf, 'demo');
    assert.equal(report.models[1].fusedParity.labelAgreement, 1);
    assert.equal(report.models[1].fusedParity.maxAbsLogitDiff, 0);
    // One fleet run per number of inference threads, each with the engine it is set against.
    assert.deepEqual(
      report.pipelines.map((p: { sessions: number }) => p.sessions),
      [1, 2],
    );
    const [pipeline] = report.pipelines;
    assert.equal(pipeline.registryDevice, 'cpu');
    assert.equal(pipeline.metricProvider, 'cpu');
    assert.equal(pipeline.online.length, 2);
    assert.equal(pipeline.ceiling, report.models[0].fp32.textsPerSecond);
    assert.match(stdout, /\| 2 \| 64 \|/);
    // The gap budget, from the worker's passes: its parts add up to the bulk run's wall time.
    const { budget } = pipeline;
    assert.ok(budget.passes > 0);
    const parts = ['uploadMs', 'toFirstPassMs', 'inPassesMs', 'betweenPassesMs', 'finishMs'];
    const sum = parts.reduce((total, part) => total + budget[part], 0);
    assert.ok(Math.abs(sum - budget.totalMs) < 1e-6, JSON.stringify(budget));
    assert.match(stdout, /\| where the wall time went \| ms \| share \|/);
  });
});
