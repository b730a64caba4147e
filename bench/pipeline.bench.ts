/**
 * The AG News test texts through the whole pipeline (HTTP API → Redis → worker → back) at
 * several client concurrencies, beside the handler alone on the same texts in the same run, with
 * the CPU time each part of the stack spent per request (read from /proc).
 *
 *   npm run build && node dist/bench/pipeline.bench.js [--limit N] [--pin] [--singles]
 *   npm run build && node dist/bench/pipeline.bench.js --ack     # what REDIS_ACK_REPLICAS costs
 *
 * `--singles` runs the lone caller, 32 and 128 clients of one text, and 32 of 16 texts, without
 * the feature table: what compares builds and settings (API_PROCESSES, ACCESS_LOG) quickest.
 * `--pin` (or `BENCH_PIN=1`) runs the handler alone and the stack on some CPUs and the load
 * generator on the others (`taskset`); `BENCH_PIN=SERVER:CLIENT` names both CPU lists.
 * `BENCH_WORKERS=N` starts N workers (default 1), each with `INTRA_OP_THREADS` ORT threads
 * (default: ORT's own choice); the CPU table sums the workers' threads. `API_PROCESSES=N` runs N
 * API processes (the API's CPU is theirs and their primary's, summed).
 */
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { classifyTexts, openModel, packingLimits } from '@app/handler';
import { demoModelStore } from '../test/support/model-store';
import { eventually } from '../test/support/processes';
import { runBatch } from '../test/support/run-batch';
import { allowedCpus, formatCpuList, pinProcess, processCpus, splitCpus } from './cpu-pinning';
import { DEMO_MODEL, agNewsTest, fmt, percentile } from './data';
import { ackCost } from './replica-ack-cost';
import { commandStats, commandTable } from './redis-commands';
import { startBenchStack } from './stack';
import { cpuTable, stackCpu, stackMeter, threadNames, type MeteredLoad } from './stack-cpu';

interface LoadFigures extends MeteredLoad {
  textsPerSecond: number;
  p50: number;
  p99: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      limit: { type: 'string' },
      pin: { type: 'boolean' },
      singles: { type: 'boolean' },
      ack: { type: 'boolean' },
    },
  });
  if (values.ack) return ackCost();
  const texts = agNewsTest(values.limit ? Number(values.limit) : 3000).map((r) => r.text);
  const pinSpec = process.env.BENCH_PIN;
  const pin =
    values.pin || (pinSpec && pinSpec !== '0') ? splitCpus(allowedCpus(), pinSpec) : undefined;
  // The handler alone runs where the server will; the stack's processes inherit this affinity.
  if (pin) pinProcess(process.pid, pin.server);

  // The handler alone, in this process, before the stack exists (nothing else on the cores).
  const { pkg, handler } = await openModel(DEMO_MODEL, { device: 'auto' });
  // ORT binds its intra-op pool threads to CPUs of its choosing, past any taskset: bind them back.
  if (pin) pinProcess(process.pid, pin.server);
  const limits = packingLimits(pkg.manifest.batching);
  // The best of three warm runs: the ceiling the pipeline is compared with, never understated.
  let aloneRate = 0;
  for (let run = 0; run < 3; run++) {
    const start = performance.now();
    await classifyTexts(handler, texts, limits);
    aloneRate = Math.max(aloneRate, texts.length / ((performance.now() - start) / 1000));
  }
  const single: number[] = [];
  for (const text of texts.slice(0, 300)) {
    const t0 = performance.now();
    await runBatch(handler, [text]);
    single.push(performance.now() - t0);
  }
  await handler.dispose();

  // Versions 2 and 3 are registered later, for the features table (result cache, shadow).
  const store = demoModelStore(['1', '2', '3'].map((version) => ({ version })));
  const workers = Number(process.env.BENCH_WORKERS ?? 1);
  const intraOp = process.env.INTRA_OP_THREADS;
  const bench = await startBenchStack(
    store,
    {
      MODELS: 'ag-news-bert-v1',
      ...(intraOp ? { INTRA_OP_THREADS: intraOp } : {}),
      ...(process.env.ACCESS_LOG ? { ACCESS_LOG: process.env.ACCESS_LOG } : {}),
    },
    workers,
  );
  try {
    const processes = bench.processes();
    if (pin) {
      // The stack started on the server's CPUs; the worker's ORT pool is bound back to them.
      for (const pid of [
        processes.api,
        ...(processes.apiChildren ?? []),
        processes.redis,
        ...processes.workers.map((w) => w.pid),
      ])
        pinProcess(pid, pin.server);
      pinProcess(process.pid, pin.client);
    }
    const meter = stackMeter(processes);
    const run = async (
      concurrency: number,
      perRequest: number,
      count = texts.length,
      path = '/predictions/ag-news-bert',
    ): Promise<LoadFigures> => {
      const requests: string[][] = [];
      const used = Math.min(count, texts.length);
      for (let i = 0; i < used; i += perRequest)
        requests.push(texts.slice(i, Math.min(used, i + perRequest)));
      const latencies: number[] = [];
      let next = 0;
      const before = meter.read();
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < requests.length) {
            const data = requests[next++];
            const s = performance.now();
            const response = await bench.post(path, { data });
            if (response.status !== 200)
              throw new Error(`HTTP ${response.status}: ${JSON.stringify(response.body)}`);
            latencies.push(performance.now() - s);
          }
        }),
      );
      const seconds = (performance.now() - t0) / 1000;
      const cpu = stackCpu(before, meter.read(), processes);
      const sent = requests.reduce((s, r) => s + r.length, 0);
      return {
        name: `${concurrency} clients × ${perRequest} text${perRequest > 1 ? 's' : ''}`,
        cpu,
        requests: requests.length,
        texts: sent,
        textsPerSecond: sent / seconds,
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
      };
    };
    await run(8, 16, 500); // warm-up
    const rows: [string, LoadFigures][] = [];
    const c1 = await run(1, 1, 300);
    rows.push(['1 client, 1 text/request', c1]);
    const loads = values.singles
      ? [
          [32, 1],
          [128, 1],
          [32, 16],
        ]
      : [
          [8, 16],
          [32, 16],
          [32, 1],
          [64, 1],
          [128, 1],
        ];
    let commands: string[] = [];
    for (const [concurrency, perRequest] of loads) {
      const before = await commandStats(bench.redisUrl);
      const figures = await run(concurrency, perRequest);
      if (concurrency === 32 && perRequest === 1)
        commands = commandTable(before, await commandStats(bench.redisUrl), figures.requests);
      rows.push([`${concurrency} clients, ${perRequest} text(s)/request`, figures]);
    }
    const load = (concurrency: number, perRequest: number) =>
      rows.find(([, f]) => f.name.startsWith(`${concurrency} clients × ${perRequest} text`))![1];
    const singles = load(32, 1);
    const redisMs = singles.cpu.redis / singles.requests;
    const lines = [
      `pipeline (HTTP → Redis → worker), ${pkg.manifest.name}, ${texts.length} AG News test texts, ` +
        `${workers} worker${workers > 1 ? 's' : ''} (INTRA_OP_THREADS=${intraOp ?? '0'}), ` +
        `API_PROCESSES=${process.env.API_PROCESSES ?? 'default'}, ACCESS_LOG=${process.env.ACCESS_LOG ?? 'false'}`,
      pin
        ? `pinned (taskset): handler alone and server on CPUs ${formatCpuList(pin.server)}, load generator on CPUs ${formatCpuList(pin.client)}; ` +
          `read back: API ${processCpus(processes.api)}, worker ${processCpus(processes.workers[0].pid)}, Redis ${processCpus(processes.redis)}, load generator ${processCpus(process.pid)}`
        : `not pinned: the load generator, the handler alone and the server share CPUs ${formatCpuList(allowedCpus())}`,
      `handler alone: ${fmt(aloneRate)} texts/s packed; one text at a time p50 ${fmt(percentile(single, 50), 2)} ms`,
      `| load | texts/s | p50 ms | p99 ms | x handler alone |`,
      `|---|---:|---:|---:|---:|`,
      ...rows.map(
        ([name, f]) =>
          `| ${name} | ${fmt(f.textsPerSecond)} | ${fmt(f.p50, 2)} | ${fmt(f.p99, 2)} | ${fmt(f.textsPerSecond / aloneRate, 2)} |`,
      ),
      `added latency at concurrency 1 (p50 pipeline - p50 handler): ${fmt(c1.p50 - percentile(single, 50), 2)} ms`,
      '',
      `CPU ms per request, from /proc/<pid>/stat and /proc/<pid>/task/<tid>/stat before and after each load:`,
      '',
      ...cpuTable([singles, load(32, 16)]),
      '',
      `Redis: ${fmt(redisMs, 3)} ms of CPU per single-text request, so one Redis core serves at most ` +
        `about ${fmt(1000 / redisMs, 0)} single-text requests/s for the whole fleet (1000 / ${fmt(redisMs, 3)}).`,
      `What Redis spent per request at 32 clients × 1 text, by command (INFO commandstats):`,
      '',
      ...commands,
      '',
      `thread names (/proc/<pid>/task/<tid>/comm): ${threadNames(meter.read())}. ` +
        `The worker's main thread is the one whose id is the pid; its inference thread says its id, ` +
        `and which threads ran before it, as it starts (bench/thread-tag.ts).`,
      '',
      ...(values.singles ? [] : await featureCosts(bench, run)),
      '',
    ];
    process.stdout.write(lines.join('\n'));
  } finally {
    await bench.stop();
    rmSync(store, { recursive: true, force: true });
  }
}

/**
 * What each opt-in feature costs a single-text sync call when a caller uses it, beside the same
 * load without it, in one run: a deadline, provenance, the result cache (every text a miss, then
 * every text a hit) and a shadow version that gets a copy of every job.
 */
async function featureCosts(
  bench: Awaited<ReturnType<typeof startBenchStack>>,
  run: (
    concurrency: number,
    perRequest: number,
    count: number,
    path?: string,
  ) => Promise<LoadFigures>,
): Promise<string[]> {
  const manage = async (method: string, path: string, body?: unknown) => {
    const response = await bench.stack.manage(method, path, body);
    if (response.status >= 300)
      throw new Error(
        `${method} ${path}: HTTP ${response.status} ${JSON.stringify(response.body)}`,
      );
  };
  await manage('POST', '/models?url=ag-news-bert-v2&cache_ttl_s=3600');
  await manage('POST', '/models?url=ag-news-bert-v3');
  for (const version of ['2', '3']) {
    await eventually(`version ${version} to be served`, async () => {
      const answer = await bench.post(`/predictions/ag-news-bert/${version}`, { data: ['warm'] });
      return answer.status === 200 ? true : undefined;
    });
  }
  const count = 2000;
  const rows: [string, LoadFigures][] = [];
  const measure = async (name: string, path: string) =>
    rows.push([name, await run(32, 1, count, path)]);
  await run(32, 1, 500, '/predictions/ag-news-bert/3'); // warm-up of a new version (no cache)
  await measure('none (the baseline)', '/predictions/ag-news-bert');
  await measure('a deadline (`?deadline_ms=60000`)', '/predictions/ag-news-bert?deadline_ms=60000');
  await measure('provenance (`?provenance=true`)', '/predictions/ag-news-bert?provenance=true');
  await measure('result cache, every text a miss', '/predictions/ag-news-bert/2');
  await measure('result cache, every text a hit', '/predictions/ag-news-bert/2');
  await manage('PUT', '/models/ag-news-bert/shadow', { version: '3', fraction: 1 });
  await measure('shadow version, a copy of every job', '/predictions/ag-news-bert');
  await manage('DELETE', '/models/ag-news-bert/shadow');
  const [, base] = rows[0];
  const perRequest = (f: LoadFigures, ms: number) => fmt(ms / f.requests, 3);
  return [
    `what a feature costs when used, 32 clients × 1 text, ${base.requests} requests each:`,
    '',
    `| feature used | texts/s | x baseline | plumbing ms/request | server total ms/request |`,
    `|---|---:|---:|---:|---:|`,
    ...rows.map(
      ([name, f]) =>
        `| ${name} | ${fmt(f.textsPerSecond)} | ${fmt(f.textsPerSecond / base.textsPerSecond, 2)} | ` +
        `${perRequest(f, f.cpu.api + f.cpu.redis + f.cpu.workerMain)} | ${perRequest(f, f.cpu.total)} |`,
    ),
  ];
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
