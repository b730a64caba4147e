/**
 * Where a lone caller's time goes: single-text sync calls one after another against a local
 * stack (one API process, one worker), beside the handler alone on the same texts, and the
 * moment each Redis command of a call reached Redis (`MONITOR`), relative to when the call was
 * sent. Two passes: without MONITOR (the added latency, p50 pipeline − p50 handler, as
 * `bench:pipeline` prints it), then with it (the hops; MONITOR itself slows Redis a little).
 *
 *   npm run build && node dist/bench/lone-call.bench.js [--calls N]
 *
 * Scripts are named by BullMQ's own script files (their SHA1 is what EVALSHA sends); a command
 * that is not a BullMQ script is named by itself. Background commands (heartbeats, the stalled
 * check, metrics) that fell inside a call show up in fewer calls than the call's own steps; commands a script
 * runs inside Redis are left out.
 */
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { openModel } from '@app/handler';
import { runBatch } from '../test/support/run-batch';
import { DEMO_MODEL, benchTexts, fmt, percentile } from './data';
import { startBenchStack } from './stack';

/** A command as MONITOR saw it: when (ms, on the wall clock) and what. */
interface Seen {
  at: number;
  name: string;
}

/** BullMQ's scripts by the SHA1 of their text: what EVALSHA names them by. */
function bullmqScripts(): Map<string, string> {
  // BullMQ's script modules, loaded as CommonJS files (its package has no import path to them).
  const load = createRequire(__filename);
  const folder = join(dirname(load.resolve('bullmq')), 'scripts');
  const names = new Map<string, string>();
  for (const file of readdirSync(folder).filter((f) => /^[a-zA-Z]+-\d+\.js$/.test(f))) {
    const script = load(join(folder, file)) as Record<string, { name: string; content: string }>;
    for (const { name, content } of Object.values(script))
      if (content) names.set(createHash('sha1').update(content).digest('hex'), name);
  }
  return names;
}

const ANSWERED = '(answer read by the caller)';

/**
 * The steps seen in most calls (background commands fall inside few), in the order they usually
 * came, each with the p50 of its offset from the send and the p50, over the calls that saw
 * both, of the time since the step above it.
 */
function hopTable(timelines: Map<string, number>[]): string[] {
  const offsets = new Map<string, number[]>();
  for (const timeline of timelines)
    for (const [step, at] of timeline) offsets.set(step, [...(offsets.get(step) ?? []), at]);
  const steps = [...offsets.entries()]
    .filter(([, at]) => at.length >= timelines.length * 0.9)
    .map(([step, at]) => ({ step, count: at.length, p50: percentile(at, 50) }))
    .sort((a, b) => a.p50 - b.p50);
  return [
    '| step (BullMQ script or Redis command) | in calls | p50 ms after send | p50 ms since the step above |',
    '|---|---:|---:|---:|',
    ...steps.map(({ step, count, p50 }, i) => {
      const above = steps[i - 1]?.step;
      const gaps = timelines
        .filter((t) => above !== undefined && t.has(above) && t.has(step))
        .map((t) => t.get(step)! - t.get(above)!);
      return `| ${step} | ${count} | ${fmt(p50, 2)} | ${fmt(percentile(gaps, 50), 2)} |`;
    }),
  ];
}

/** The wall clock in ms with sub-ms digits, comparable with MONITOR's timestamps. */
const wallNow = () => performance.timeOrigin + performance.now();

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { calls: { type: 'string' } } });
  const calls = Number(values.calls ?? 300);
  const texts = benchTexts(calls);

  const { handler } = await openModel(DEMO_MODEL, { device: 'auto' });
  const alone: number[] = [];
  for (const text of texts) {
    const t0 = performance.now();
    await runBatch(handler, [text]);
    alone.push(performance.now() - t0);
  }
  await handler.dispose();

  const bench = await startBenchStack();
  const scripts = bullmqScripts();
  const client = new Redis(bench.stack.redis.url);
  const monitor = await client.monitor();
  let seen: Seen[] = [];
  let watching = false;
  monitor.on('monitor', (time: string, args: string[], source: string) => {
    // Commands a script runs are its own steps, not the call's.
    if (!watching || source === 'lua') return;
    const [command, sha] = args;
    const lower = command.toLowerCase();
    const name = lower === 'evalsha' ? (scripts.get(sha) ?? `evalsha ${sha.slice(0, 8)}`) : lower;
    seen.push({ at: Number(time) * 1000, name });
  });
  try {
    const call = async (text: string) => {
      const response = await bench.post('/predictions/ag-news-bert', { data: [text] });
      if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
    };
    for (const text of texts.slice(0, 50)) await call(text); // warm-up
    const plain: number[] = [];
    for (const text of texts) {
      const t0 = performance.now();
      await call(text);
      plain.push(performance.now() - t0);
    }
    // Per call, each step (a command, with its repeat within the call: `moveToActive #2`) and
    // when it reached Redis, ms after the send; the caller's read of the answer is the last.
    const timelines: Map<string, number>[] = [];
    watching = true;
    for (const text of texts) {
      seen = [];
      const sent = wallNow();
      await call(text);
      const done = wallNow();
      // MONITOR's lines reach this process after the call's own; wait for the call's last one.
      await new Promise((r) => setTimeout(r, 2));
      const timeline = new Map<string, number>();
      const repeats = new Map<string, number>();
      for (const { at, name } of seen.filter((s) => s.at >= sent && s.at <= done)) {
        const n = (repeats.get(name) ?? 0) + 1;
        repeats.set(name, n);
        timeline.set(n > 1 ? `${name} #${n}` : name, at - sent);
      }
      timeline.set(ANSWERED, done - sent);
      timelines.push(timeline);
    }
    watching = false;
    const handlerP50 = percentile(alone, 50);
    const lines = [
      `lone caller: ${calls} single-text sync calls one after another, 1 API process, 1 worker`,
      `handler alone, one text: p50 ${fmt(handlerP50, 2)} ms`,
      `pipeline without MONITOR: p50 ${fmt(percentile(plain, 50), 2)} ms, p90 ${fmt(percentile(plain, 90), 2)} ms; ` +
        `added latency (p50 pipeline - p50 handler): ${fmt(percentile(plain, 50) - handlerP50, 2)} ms`,
      '',
      'with MONITOR: when each command reached Redis, ms after the call was sent, and since the step above in the same call:',
      '',
      ...hopTable(timelines),
      '',
    ];
    process.stdout.write(lines.join('\n'));
  } finally {
    monitor.disconnect();
    client.disconnect();
    await bench.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
