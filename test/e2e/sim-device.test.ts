import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { softmax } from '@app/handler';
import { AppProcess } from '../support/processes';
import {
  DEFAULT_PASS_OVERHEAD_US,
  DEFAULT_US_PER_PADDED_TOKEN,
  SIM_DEVICE_LABEL,
  SIM_DEVICE_LOGITS,
  SIM_DEVICE_MODEL,
  simulatedDeviceStore,
} from '../support/sim-device/sim-device-store';
import { readDeviceLedger } from '../support/sim-device/simulated-session';
import { Stack } from '../support/stack';

// What the device answers for any text; the demo model would label these three differently.
const TEXTS = [
  'Yankees beat the Red Sox in extra innings to win the pennant',
  'Troops withdraw from the border as peace talks resume in Geneva',
  'New chip doubles battery life of laptops, researchers say',
];

describe('the simulated device', () => {
  let scratch: string;
  let sim: ReturnType<typeof simulatedDeviceStore>;
  let stack: Stack;
  let ledger: string;

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'modelfleet-sim-test-'));
    ledger = join(scratch, 'device-passes.tsv');
    sim = simulatedDeviceStore({ ledger });
    stack = await Stack.start({ modelStore: sim.store, env: { ALLOW_PACKAGE_CODE: 'true' } });
  });
  after(async () => {
    await stack?.stop();
    sim?.remove();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('serves through API, Redis and a worker: every text gets the label of its fixed logits', async () => {
    const answer = await stack.request('POST', `/predictions/${SIM_DEVICE_MODEL}`, {
      data: TEXTS,
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const expected = softmax(SIM_DEVICE_LOGITS)[2];
    assert.equal(answer.body.length, TEXTS.length);
    for (const prediction of answer.body) {
      assert.equal(prediction.label_name, SIM_DEVICE_LABEL);
      assert.ok(Math.abs(prediction.probability - expected) < 1e-6, String(prediction.probability));
    }
  });

  it('records each pass in its ledger, its device time from its padded tokens', () => {
    // The warm-up's passes (1 and 64 rows), then the request's: its three texts padded to one
    // length, a multiple of 8 as the package's batching says.
    const passes = readDeviceLedger(ledger);
    const request = passes.filter((p) => p.rows === TEXTS.length);
    assert.equal(request.length, 1, JSON.stringify(passes));
    assert.equal(request[0].paddedTokens % (TEXTS.length * 8), 0);
    for (const pass of passes) {
      const busyUs = DEFAULT_PASS_OVERHEAD_US + DEFAULT_US_PER_PADDED_TOKEN * pass.paddedTokens;
      assert.ok(Math.abs(pass.busyMs * 1000 - busyUs) < 1e-6, JSON.stringify(pass));
    }
  });
});

describe('npm run bench:sim', () => {
  let bench: AppProcess;
  after(() => bench?.stop());

  it('prints its figure line on a tiny run (the fixture sample: no data folder)', async () => {
    // Empty is unset: no data folder, and not a test file of this run (whose reporter would
    // write to its output).
    const env = { BENCH_DATA: '', NODE_TEST_CONTEXT: '' };
    bench = AppProcess.start('bench-sim', 'bench/sim.bench.js', env, ['--texts', '300']);
    const code = await bench.waitForExit();
    assert.equal(code, 0, bench.output.join('\n'));
    const line = /^simulated device busy: engine \d+\.\d%, fleet \d+\.\d%$/;
    assert.ok(
      bench.output.some((l) => line.test(l)),
      bench.output.join('\n'),
    );
  });
});
