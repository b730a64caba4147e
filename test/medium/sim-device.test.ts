import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { simulatedDeviceStore } from '../support/sim-device/sim-device-store';
import { readDeviceLedger } from '../support/sim-device/simulated-session';

/** Opens the package's handler in a thread of this process and scores `count` texts there. */
function scoreInThread(dir: string, count: number): Promise<void> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { classifyTexts, openModel, packingLimits } = require(workerData.handlerLib);
    (async () => {
      const { pkg, handler } = await openModel(workerData.dir, { allowPackageCode: true });
      const texts = Array.from({ length: workerData.count }, (_, i) => 'text number ' + i);
      await classifyTexts(handler, texts, { ...packingLimits(pkg.manifest.batching), maxBatchSize: 4 });
      await handler.dispose();
    })().then(() => parentPort.postMessage('done'), (e) => parentPort.postMessage(String(e)));`;
  const handlerLib = join(__dirname, '../../libs/handler/src/index.js');
  const thread = new Worker(code, { eval: true, workerData: { dir, count, handlerLib } });
  return new Promise((resolve, reject) => {
    thread.once('message', (m) => (m === 'done' ? resolve() : reject(new Error(String(m)))));
    thread.once('error', reject);
  });
}

describe('the simulated device', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'modelfleet-sim-timeline-'));
  const ledger = join(scratch, 'passes.tsv');
  const sim = simulatedDeviceStore({ ledger });
  after(() => {
    sim.remove();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('is one device for the sessions of one process: their passes never overlap', async () => {
    // Two sessions in two threads, each scoring its texts four to a pass, at once.
    await Promise.all([scoreInThread(sim.dir, 40), scoreInThread(sim.dir, 40)]);
    const passes = readDeviceLedger(ledger).sort((a, b) => a.startedAt - b.startedAt);
    assert.ok(passes.filter((p) => p.rows === 4).length >= 20, JSON.stringify(passes));
    for (let k = 1; k < passes.length; k++) {
      const end = passes[k - 1].startedAt + passes[k - 1].busyMs;
      // Float sums of epoch ms: a microsecond of slack.
      assert.ok(passes[k].startedAt >= end - 1e-3, `pass ${k} began before pass ${k - 1} ended`);
      assert.ok(passes[k].blockedMs >= passes[k].busyMs - 1e-3);
    }
  });
});
