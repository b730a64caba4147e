/**
 * Single-text sync calls against `modelfleet serve` as a user runs it (its stdout to a file, or
 * read slowly, like a terminal or a log shipper that falls behind): requests per second, and the
 * CPU the API (its processes, summed) and serve spent per request, read from /proc. What the
 * access log and `API_PROCESSES` cost where the API's lines go through serve.
 *
 *   npm run build && node dist/bench/serve-load.bench.js [--seconds 15] [--clients 32] [--slow-kbps N]
 *
 * The environment (ACCESS_LOG, API_PROCESSES, ...) goes to serve; serve starts its own Redis in
 * a temporary folder, on ports of its own choosing.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { ROOT } from '../test/support/paths';
import { readProcessCpu, ticksToMs } from './cpu-meter';
import { benchTexts, fmt } from './data';

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '15' },
      clients: { type: 'string', default: '32' },
      'slow-kbps': { type: 'string', default: '0' },
    },
  });
  const slowKbps = Number(values['slow-kbps']);
  const dir = mkdtempSync(join(tmpdir(), 'modelfleet-serve-load-'));
  const logFile = join(dir, 'serve.log');
  const out = openSync(logFile, 'w');
  const serve = spawn(process.execPath, [join(ROOT, 'dist/apps/cli/src/main.js'), 'serve'], {
    env: {
      ...process.env,
      REDIS_URL: '',
      REDIS_DATA_DIR: join(dir, 'redis'),
      MODEL_STORE: process.env.MODEL_STORE ?? join(ROOT, 'models'),
      API_PORT: '0',
      MANAGEMENT_PORT: '0',
      METRICS_PORT: '0',
      GRPC_PORT: '0',
      WORKER_METRICS_PORT: '0',
      MANAGEMENT_TOKEN: 'serve-load-bench-token',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', slowKbps ? 'pipe' : out, out],
  });
  // A reader that takes `slowKbps` KB a second at most.
  serve.stdout?.on('data', (chunk: Buffer) => {
    writeSync(out, chunk);
    serve.stdout!.pause();
    setTimeout(() => serve.stdout!.resume(), chunk.length / slowKbps);
  });
  const lines = () =>
    readFileSync(logFile, 'utf8')
      .split('\n')
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return []; // a line still being written, or not JSON
        }
      });
  try {
    let port: number | undefined;
    while (!port || !lines().some((l) => l.msg === 'worker started')) {
      if (serve.exitCode !== null)
        throw new Error(`serve exited: ${readFileSync(logFile, 'utf8')}`);
      await sleep(300);
      port = lines().find((l) => l.msg === 'API listening')?.port as number | undefined;
    }
    const api = lines()
      .filter(
        (l) =>
          (l.msg === 'started process' && l.child === 'api') || l.msg === 'started API process',
      )
      .map((l) => Number(l.childPid));
    const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 256 });
    const texts = benchTexts(5000);
    let answered = 0;
    const load = async (ms: number) => {
      let stop = false;
      const client = async () => {
        while (!stop) {
          const response = await pool.request({
            path: '/predictions/ag-news-bert',
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ data: [texts[answered % texts.length]] }),
          });
          await response.body.text();
          if (response.statusCode !== 200) throw new Error(`HTTP ${response.statusCode}`);
          answered++;
        }
      };
      const clients = Array.from({ length: Number(values.clients) }, client);
      await sleep(ms);
      stop = true;
      await Promise.all(clients);
    };
    await load(4000); // warm-up
    const cpu = (pids: number[]) => pids.reduce((sum, pid) => sum + readProcessCpu(pid).ticks, 0);
    const before = { api: cpu(api), serve: cpu([serve.pid!]) };
    answered = 0;
    const start = performance.now();
    await load(Number(values.seconds) * 1000);
    const seconds = (performance.now() - start) / 1000;
    const perRequest = (ticks: number) => fmt(ticksToMs(ticks) / answered, 3);
    process.stdout.write(
      `serve, ${values.clients} clients × 1 text, ${fmt(seconds)} s, stdout ` +
        `${slowKbps ? `read at ${slowKbps} KB/s` : 'to a file'}, ACCESS_LOG=${process.env.ACCESS_LOG ?? 'default'}, ` +
        `API_PROCESSES=${process.env.API_PROCESSES ?? 'default'}: ${fmt(answered / seconds)} requests/s; ` +
        `CPU ms/request: API ${perRequest(cpu(api) - before.api)}, serve ${perRequest(cpu([serve.pid!]) - before.serve)}\n`,
    );
    await pool.close();
  } finally {
    serve.kill('SIGTERM');
    await new Promise((done) => serve.once('exit', done));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
