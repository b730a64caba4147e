/**
 * How busy the serving path keeps a device, measured on any machine: the simulated device of
 * test/support/sim-device (a forward pass that blocks its thread, using no CPU, for a time
 * proportional to its padded tokens) behind the real tokenizer and handler, then
 *  - the engine alone: the handler scoring every text (`classifyTexts`, as the engine ceilings
 *    of `npm run bench` and bench/gpu), in this process;
 *  - the fleet: the same texts as one batch (`POST /v1/batches`) through API, Redis and one worker.
 * Busy = the device's own busy time (the passes it recorded) against wall time. The engine's
 * figure is end to end; the fleet's headline figure is its steady window (the passes' span less
 * its first and last tenth), with its end-to-end figure and gap budget beside it.
 *
 *   npm run bench:sim [-- --texts N] [-- --us-per-token U --pass-us P]
 *     (BENCH_DATA as for the other benchmarks; without it the fixture sample, repeated)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { classifyTexts, openModel, packingLimits } from '@app/handler';
import {
  DEFAULT_PASS_OVERHEAD_US,
  DEFAULT_US_PER_PADDED_TOKEN,
  SIM_DEVICE_MODEL,
  simulatedDeviceStore,
} from '../test/support/sim-device/sim-device-store';
import { readDeviceLedger, type DevicePass } from '../test/support/sim-device/simulated-session';
import { datasetOf, timedBulkRun } from './bulk-run';
import { benchTexts, fmt } from './data';
import {
  budgetRows,
  busyShare,
  gapBudget,
  loggedPasses,
  passSpan,
  steadyWindow,
  type Pass,
  type Window,
} from './gap-budget';
import { startBenchStack } from './stack';

const now = () => performance.timeOrigin + performance.now();
const pct = (share: number) => fmt(100 * share);

/** The passes the device recorded in its ledger that began within `window`. */
function deviceRecord(ledger: string, window: Window): DevicePass[] {
  return readDeviceLedger(ledger).filter(
    (p) => p.startedAt >= window.from && p.startedAt < window.to,
  );
}

/** Passes as the gap budget reads them: how long each held the device. */
const asPasses = (record: DevicePass[]): Pass[] =>
  record.map((p) => ({ startedAt: p.startedAt, ms: p.busyMs }));

const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);

async function measureEngine(dir: string, texts: string[], ledger: string) {
  const { pkg, handler } = await openModel(dir, { allowPackageCode: true, log: () => undefined });
  try {
    const limits = packingLimits(pkg.manifest.batching);
    await classifyTexts(handler, texts.slice(0, 512), limits);
    const run = { from: now(), to: 0 };
    await classifyTexts(handler, texts, limits);
    run.to = now();
    const passes = asPasses(deviceRecord(ledger, run));
    const busyMs = sum(passes.map((p) => p.ms));
    return {
      busy: busyShare(passes, run),
      textsPerSecond: texts.length / ((run.to - run.from) / 1000),
      /** Wall time per text beside the device's: the host's serial work. */
      hostUsPerText: (1000 * (run.to - run.from - busyMs)) / texts.length,
    };
  } finally {
    await handler.dispose();
  }
}

async function measureFleet(store: string, texts: string[], ledger: string) {
  const bench = await startBenchStack(
    store,
    // As bench/gpu runs its fleet: chunks of a GPU pass, more of them in a worker's hands.
    {
      MODELS: SIM_DEVICE_MODEL,
      ALLOW_PACKAGE_CODE: 'true',
      BATCH_CHUNK_SIZE: '1024',
      BULK_CONCURRENCY: '8',
    },
    1,
    // The worker's `group scored` lines: when each forward pass ran.
    { LOG_LEVEL: 'debug' },
  );
  try {
    const run = await timedBulkRun(bench.stack.apiUrl, SIM_DEVICE_MODEL, datasetOf(texts));
    const whole = { from: run.postedAt, to: run.completedAt };
    const record = deviceRecord(ledger, whole);
    const device = asPasses(record);
    const worker = loggedPasses(bench.stack.workers[0].logs(), run.postedAt);
    const steady = steadyWindow(device);
    return {
      textsPerSecond: texts.length / ((run.completedAt - run.postedAt) / 1000),
      steady: busyShare(device, steady),
      steadySeconds: (steady.to - steady.from) / 1000,
      span: busyShare(device, passSpan(device)),
      endToEnd: busyShare(device, whole),
      /** The same figure from the worker's own records of its passes. */
      workerSteady: busyShare(worker, steadyWindow(worker)),
      budget: gapBudget(run, worker),
      deviceBusyMs: sum(record.map((p) => p.busyMs)),
      threadBlockedMs: sum(record.map((p) => p.blockedMs)),
    };
  } finally {
    await bench.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      texts: { type: 'string', default: '20000' },
      'us-per-token': { type: 'string', default: String(DEFAULT_US_PER_PADDED_TOKEN) },
      'pass-us': { type: 'string', default: String(DEFAULT_PASS_OVERHEAD_US) },
    },
  });
  const loadAtStart = loadavg()[0];
  const texts = benchTexts(Number(values.texts));
  const usPerPaddedToken = Number(values['us-per-token']);
  const passOverheadUs = Number(values['pass-us']);
  const scratch = mkdtempSync(join(tmpdir(), 'modelfleet-sim-bench-'));
  const ledger = join(scratch, 'device-passes.tsv');
  const sim = simulatedDeviceStore({ usPerPaddedToken, passOverheadUs, ledger });
  try {
    const note = (line: string) => process.stderr.write(`${line}\n`);
    note(
      `${texts.length} texts; device: ${usPerPaddedToken} µs per padded token + ${passOverheadUs} µs per pass`,
    );
    const engine = await measureEngine(sim.dir, texts, ledger);
    note(`engine: ${fmt(engine.textsPerSecond)} texts/s`);
    const fleet = await measureFleet(sim.store, texts, ledger);
    const lines = [
      `simulated device busy: engine ${pct(engine.busy)}%, fleet ${pct(fleet.steady)}%`,
      '',
      `texts: ${texts.length}; device: ${usPerPaddedToken} µs per padded token + ${passOverheadUs} µs per pass; ` +
        `${cpus().length} CPU cores, load average ${fmt(loadAtStart, 2)} at the start, ${fmt(loadavg()[0], 2)} at the end`,
      `engine alone: ${fmt(engine.textsPerSecond)} texts/s, device ${pct(engine.busy)}% busy end to end (target ≥ 95%); ` +
        `${fmt(engine.hostUsPerText, 0)} µs of host time per text beside the device's`,
      `fleet (API, Redis, one worker): ${fmt(fleet.textsPerSecond)} texts/s end to end; device busy ` +
        `${pct(fleet.steady)}% over the steady window (${fmt(fleet.steadySeconds, 1)} s; target ≥ 90%), ` +
        `${pct(fleet.span)}% from first pass to last, ${pct(fleet.endToEnd)}% end to end`,
      `  the worker's inference thread was held ${fmt(fleet.threadBlockedMs, 0)} ms for ` +
        `${fmt(fleet.deviceBusyMs, 0)} ms of device time (the difference: late wake-ups on busy cores); ` +
        `its own pass records (handler.inference, tensors included) give ${pct(fleet.workerSteady)}% over their steady window`,
      '',
      ...budgetRows(fleet.budget),
      '',
    ];
    process.stdout.write(lines.join('\n'));
  } finally {
    sim.remove();
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
