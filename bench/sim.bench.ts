/**
 * How busy the serving path keeps a device, measured on any machine: the simulated device of
 * test/support/sim-device (a forward pass that blocks its thread, using no CPU, for a time
 * proportional to its padded tokens; the sessions of one process share it, as a worker's share
 * its GPU) behind the real tokenizer and handler, for each number of sessions N, then
 *  - the engine alone: with one session the handler scoring every text (`classifyTexts`, as the
 *    engine ceilings of `npm run bench` and bench/gpu) in this process; with N the worker's
 *    inference threads (`InferencePool`) fed the texts as bulk groups directly, no API or Redis;
 *  - the fleet: the same texts as one batch (`POST /v1/batches`) through API, Redis and one
 *    worker running N inference threads (INFERENCE_THREADS, BULK_GROUPS_IN_FLIGHT = N + 1).
 * Busy = the device's own busy time (the passes it recorded) against wall time. The engine's
 * figure is end to end; the fleet's headline figure is its steady window (the passes' span less
 * its first and last tenth), with its end-to-end figure and gap budget beside it. The first line
 * gives the best N of each.
 *
 *   npm run bench:sim [-- --texts N] [-- --sessions 1,2] [-- --us-per-token U --pass-us P]
 *     (BENCH_DATA as for the other benchmarks; without it the fixture sample, repeated)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { classifyTexts, openModel, packingLimits, type PackingLimits } from '@app/handler';
import { InferencePool } from '../apps/worker/src/runtime/inference-pool';
import {
  DEFAULT_PASS_OVERHEAD_US,
  DEFAULT_US_PER_PADDED_TOKEN,
  SIM_DEVICE_MODEL,
  simulatedDeviceStore,
} from '../test/support/sim-device/sim-device-store';
import { readDeviceLedger, type DevicePass } from '../test/support/sim-device/simulated-session';
import { DEVICE_TIMELINE_MODULE } from '../test/support/sim-device/device-timeline';
import { datasetOf, timedBulkRun } from './bulk-run';
import { benchTexts, fmt } from './data';
import {
  budgetRows,
  busyShare,
  gapBudget,
  loggedPasses,
  passSpan,
  steadyBudget,
  steadyRows,
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

/** Scores `texts` with the handler alone, in this thread: one session. */
async function engineOneSession(dir: string, texts: string[]): Promise<Window> {
  const { pkg, handler } = await openModel(dir, { allowPackageCode: true, log: () => undefined });
  try {
    const limits = packingLimits(pkg.manifest.batching);
    // Answers as typed arrays, as a worker's inference thread makes them.
    const options = { rowScores: true };
    await classifyTexts(handler, texts.slice(0, 512), limits, options);
    const run = { from: now(), to: 0 };
    await classifyTexts(handler, texts, limits, options);
    run.to = now();
    return run;
  } finally {
    await handler.dispose();
  }
}

/**
 * Scores `texts` on `sessions` inference threads fed directly, as a worker's grouper feeds them:
 * bulk groups of a pass's rows, `sessions + 1` in flight.
 */
async function enginePool(
  dir: string,
  texts: string[],
  limits: PackingLimits,
  sessions: number,
): Promise<Window> {
  const pool = await InferencePool.start(
    sessions,
    {
      packagePath: dir,
      device: 'cpu',
      intraOpNumThreads: 0,
      maxArchiveBytes: 1024 ** 3,
      maxArchiveEntries: 1000,
      allowPackageCode: true,
      batching: limits,
      bulkPassMs: 50,
    },
    () => undefined,
  );
  try {
    const groups: string[][] = [];
    for (let i = 0; i < texts.length; i += limits.maxBatchSize)
      groups.push(texts.slice(i, i + limits.maxBatchSize));
    await pool.classify(texts.slice(0, 512), { bulk: true });
    const run = { from: now(), to: 0 };
    let next = 0;
    const feed = async () => {
      while (next < groups.length) await pool.classify(groups[next++], { bulk: true });
    };
    await Promise.all(Array.from({ length: sessions + 1 }, feed));
    run.to = now();
    return run;
  } finally {
    await pool.close();
  }
}

async function measureEngine(
  dir: string,
  texts: string[],
  ledger: string,
  limits: PackingLimits,
  sessions: number,
) {
  const run =
    sessions === 1
      ? await engineOneSession(dir, texts)
      : await enginePool(dir, texts, limits, sessions);
  const passes = asPasses(deviceRecord(ledger, run));
  const busyMs = sum(passes.map((p) => p.ms));
  return {
    busy: busyShare(passes, run),
    textsPerSecond: texts.length / ((run.to - run.from) / 1000),
    /** Wall time per text beside the device's: the host's work the device waited for. */
    hostUsPerText: (1000 * (run.to - run.from - busyMs)) / texts.length,
  };
}

async function measureFleet(store: string, texts: string[], ledger: string, sessions: number) {
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
    {
      LOG_LEVEL: 'debug',
      INFERENCE_THREADS: String(sessions),
      BULK_GROUPS_IN_FLIGHT: String(sessions + 1),
    },
    // The worker's inference threads share one device, as they share a GPU.
    [DEVICE_TIMELINE_MODULE],
  );
  try {
    const run = await timedBulkRun(bench.stack.apiUrl, SIM_DEVICE_MODEL, datasetOf(texts));
    const whole = { from: run.postedAt, to: run.completedAt };
    const record = deviceRecord(ledger, whole);
    const device = asPasses(record);
    const worker = loggedPasses(bench.stack.workers[0].logs(), run.postedAt);
    const steady = steadyWindow(device);
    return {
      sessions,
      textsPerSecond: texts.length / ((run.completedAt - run.postedAt) / 1000),
      steady: busyShare(device, steady),
      steadySeconds: (steady.to - steady.from) / 1000,
      span: busyShare(device, passSpan(device)),
      endToEnd: busyShare(device, whole),
      /** The same figure from the worker's own records of its passes. */
      workerSteady: busyShare(worker, steadyWindow(worker)),
      /** From the device's passes: with several sessions, a thread's record holds its wait. */
      budget: gapBudget(run, device),
      steadyBudget: steadyBudget(device),
      deviceBusyMs: sum(record.map((p) => p.busyMs)),
      threadBlockedMs: sum(record.map((p) => p.blockedMs)),
    };
  } finally {
    await bench.stop();
  }
}

type EngineFigures = Awaited<ReturnType<typeof measureEngine>>;
type FleetFigures = Awaited<ReturnType<typeof measureFleet>>;

const best = <T extends { busy: number }>(runs: T[]) =>
  runs.reduce((a, b) => (b.busy > a.busy ? b : a));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      texts: { type: 'string', default: '20000' },
      sessions: { type: 'string', default: '1,2' },
      'us-per-token': { type: 'string', default: String(DEFAULT_US_PER_PADDED_TOKEN) },
      'pass-us': { type: 'string', default: String(DEFAULT_PASS_OVERHEAD_US) },
    },
  });
  const loadAtStart = loadavg()[0];
  const texts = benchTexts(Number(values.texts));
  const sessionCounts = values.sessions.split(',').map(Number);
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
    const limits = packingLimits(sim.batching);
    const engines: (EngineFigures & { sessions: number })[] = [];
    const fleets: (FleetFigures & { busy: number })[] = [];
    for (const sessions of sessionCounts) {
      const engine = await measureEngine(sim.dir, texts, ledger, limits, sessions);
      engines.push({ ...engine, sessions });
      note(
        `engine, ${sessions} session(s): ${fmt(engine.textsPerSecond)} texts/s, ${pct(engine.busy)}% busy`,
      );
    }
    for (const sessions of sessionCounts) {
      const fleet = await measureFleet(sim.store, texts, ledger, sessions);
      fleets.push({ ...fleet, busy: fleet.steady });
      note(
        `fleet, ${sessions} session(s): ${fmt(fleet.textsPerSecond)} texts/s, ${pct(fleet.steady)}% busy`,
      );
    }
    const engine = best(engines);
    const fleet = best(fleets);
    const lines = [
      `simulated device busy: engine ${pct(engine.busy)}%, fleet ${pct(fleet.steady)}%`,
      '',
      `texts: ${texts.length}; device: ${usPerPaddedToken} µs per padded token + ${passOverheadUs} µs per pass; ` +
        `${cpus().length} CPU cores, load average ${fmt(loadAtStart, 2)} at the start, ${fmt(loadavg()[0], 2)} at the end; ` +
        `best: engine with ${engine.sessions} session(s), fleet with ${fleet.sessions}`,
      ...engines.map(
        (e) =>
          `engine alone, ${e.sessions} session(s): ${fmt(e.textsPerSecond)} texts/s, device ${pct(e.busy)}% busy end to end (target ≥ 95%); ` +
          `${fmt(e.hostUsPerText, 0)} µs of wall time per text beside the device's`,
      ),
      ...fleets.flatMap((f) => [
        `fleet (API, Redis, one worker), ${f.sessions} session(s): ${fmt(f.textsPerSecond)} texts/s end to end; device busy ` +
          `${pct(f.steady)}% over the steady window (${fmt(f.steadySeconds, 1)} s; target ≥ 90%), ` +
          `${pct(f.span)}% from first pass to last, ${pct(f.endToEnd)}% end to end`,
        `  the worker's inference threads were held ${fmt(f.threadBlockedMs, 0)} ms for ` +
          `${fmt(f.deviceBusyMs, 0)} ms of device time (the difference: late wake-ups on busy cores, and ` +
          `with several sessions their waits for each other); its own pass records (handler.inference, ` +
          `tensors and those waits included) give ${pct(f.workerSteady)}% over their steady window`,
      ]),
      '',
      `where the wall time of the fleet with ${fleet.sessions} session(s) went (the device's passes):`,
      '',
      ...budgetRows(fleet.budget),
      '',
      ...steadyRows(fleet.steadyBudget),
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
