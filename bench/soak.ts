/**
 * A bounded soak: the stack under a steady load at a fixed fraction of its measured capacity,
 * printing the memory of every process and of Redis over time, each one's slope, and what
 * became of every accepted job.
 *
 *   npm run soak -- [--minutes 10] [--fraction 0.5] [--sample-seconds 30]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import type { TestRedis } from '../test/support/redis-server';
import { agNewsSample } from '../test/support/texts';
import { fmt } from './data';
import { startBenchStack } from './stack';

/** Resident memory of a process, in MB. */
function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/** Least-squares slope of `ys` over `xs`. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  const num = xs.reduce((sum, x, i) => sum + (x - mx) * (ys[i] - my), 0);
  const den = xs.reduce((sum, x) => sum + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string', default: '10' },
      fraction: { type: 'string', default: '0.5' },
      'sample-seconds': { type: 'string', default: '30' },
    },
  });
  const minutes = Number(values.minutes);
  const fraction = Number(values.fraction);
  const sampleMs = Number(values['sample-seconds']) * 1000;
  const texts = agNewsSample(400);
  const bench = await startBenchStack();
  const { stack } = bench;
  const redis = new Redis(stack.redis.url);
  const sync = (i: number) =>
    bench.post('/predictions/ag-news-bert', { data: [texts[i % texts.length]] });
  try {
    // Capacity: single-text sync calls from 32 clients for 20 s.
    let answered = 0;
    const until = Date.now() + 20_000;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (Date.now() < until) if ((await sync(answered)).status === 200) answered++;
      }),
    );
    const capacity = answered / 20;
    const rate = capacity * fraction;
    console.log(
      `capacity ${fmt(capacity)} requests/s; soaking at ${fmt(rate)}/s for ${minutes} min`,
    );

    const pids = {
      api: stack.api.child.pid!,
      worker: stack.workers[0].child.pid!,
      redis: (stack.redis as TestRedis).pid,
    };
    const samples: { t: number; mb: Record<string, number> }[] = [];
    const sample = async () => {
      const info = await redis.info('memory');
      const used = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0) / 1024 / 1024;
      const mb: Record<string, number> = { 'redis data': used };
      for (const [name, pid] of Object.entries(pids)) if (pid) mb[name] = rssMb(pid);
      samples.push({ t: (Date.now() - start) / 60_000, mb });
      console.log(
        `${fmt(samples.at(-1)!.t, 1).padStart(5)} min  ` +
          Object.entries(mb)
            .map(([k, v]) => `${k} ${fmt(v)} MB`)
            .join('  '),
      );
    };

    // Open loop: one request every 1/rate s, 4 in 5 sync, 1 in 5 an async create.
    const start = Date.now();
    const end = start + minutes * 60_000;
    const asyncIds: string[] = [];
    const outcomes = { sync_ok: 0, sync_failed: 0, async_accepted: 0, async_refused: 0 };
    const inFlight = new Set<Promise<void>>();
    let sent = 0;
    let nextSample = start;
    while (Date.now() < end) {
      if (Date.now() >= nextSample) {
        await sample();
        nextSample += sampleMs;
      }
      const i = sent++;
      const request = (async () => {
        if (i % 5 === 4) {
          const r = await bench.post('/v1/predictions', {
            model: 'ag-news-bert',
            input: { data: [texts[i % texts.length]] },
          });
          if (r.status === 202) {
            outcomes.async_accepted++;
            asyncIds.push((r.body as { id: string }).id);
          } else outcomes.async_refused++;
        } else if ((await sync(i)).status === 200) outcomes.sync_ok++;
        else outcomes.sync_failed++;
      })();
      inFlight.add(request);
      void request.finally(() => inFlight.delete(request));
      const due = start + (sent / rate) * 1000;
      await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
    }
    await Promise.all(inFlight);
    await sample();

    // Every accepted async job must reach a terminal state.
    const terminal = new Map<string, string>();
    const deadline = Date.now() + 120_000;
    while (terminal.size < asyncIds.length && Date.now() < deadline) {
      for (const id of asyncIds.filter((id) => !terminal.has(id))) {
        const view = await stack.request('GET', `/v1/predictions/${id}`);
        const { status } = view.body as { status: string };
        if (['succeeded', 'failed', 'canceled'].includes(status)) terminal.set(id, status);
      }
      if (terminal.size < asyncIds.length) await new Promise((r) => setTimeout(r, 1000));
    }
    const succeeded = [...terminal.values()].filter((s) => s === 'succeeded').length;

    console.log('\nmemory slope (MB per hour, least squares over the samples):');
    const xs = samples.map((s) => s.t / 60);
    for (const name of Object.keys(samples[0].mb)) {
      const ys = samples.map((s) => s.mb[name]);
      console.log(
        `  ${name.padEnd(10)} ${fmt(ys[0])} → ${fmt(ys.at(-1)!)} MB, slope ${fmt(slope(xs, ys))} MB/h`,
      );
    }
    console.log(
      `\nrequests sent ${sent}: sync ok ${outcomes.sync_ok}, sync failed ${outcomes.sync_failed}; ` +
        `async accepted ${outcomes.async_accepted} (refused ${outcomes.async_refused}), ` +
        `succeeded ${succeeded}, lost ${asyncIds.length - terminal.size}`,
    );
  } finally {
    redis.disconnect();
    await bench.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
