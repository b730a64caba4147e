/**
 * A long run: the stack under a steady load at a fraction of its measured capacity, on a Redis
 * Sentinel deployment (one primary, two replicas, three Sentinels) with REDIS_ACK_REPLICAS, a
 * worker SIGKILLed (and a new one started) and the Redis primary SIGKILLed (a replica promoted,
 * the killed server started again as a replica) every `--fault-minutes`. It prints the memory of
 * every process and of Redis over time, each one's slope, and what became of every accepted job.
 * A benchmark, not a test: it asserts nothing, and exits 1 only when it could not run.
 *
 *   npm run soak -- [--minutes 60] [--fraction 0.8] [--fault-minutes 10] [--sample-seconds 30]
 *                   [--ack-replicas 1]
 *
 * Async predictions are kept for the run and 15 minutes more (RESULT_TTL_S), so that each one's
 * end can be read after it; sync calls for SYNC_RESULT_TTL_S as the settings say (600 s by
 * default), swept while the run goes on, so Redis levels off for them after ten minutes.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { connectRedis, redisTarget, type RedisConnection } from '@app/common';
import { eventually } from '../test/support/processes';
import { SENTINEL_NAME, TestRedisSentinel } from '../test/support/redis-sentinel';
import { agNewsSample } from '../test/support/texts';
import { fmt } from './data';
import { startBenchStack } from './stack';

/** Resident memory of a process, in MB; undefined once it is gone. */
function rssMb(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return undefined;
  }
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

const TERMINAL = ['succeeded', 'failed', 'canceled'];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string', default: '60' },
      fraction: { type: 'string', default: '0.8' },
      'fault-minutes': { type: 'string', default: '10' },
      'sample-seconds': { type: 'string', default: '30' },
      'ack-replicas': { type: 'string', default: '1' },
    },
  });
  const minutes = Number(values.minutes);
  const fraction = Number(values.fraction);
  const faultMs = Number(values['fault-minutes']) * 60_000;
  const sampleMs = Number(values['sample-seconds']) * 1000;
  const keptS = Math.ceil((minutes + 15) * 60);
  const texts = agNewsSample(400);
  const topology = await TestRedisSentinel.start({ replicas: 2, sentinels: 3 });
  const bench = await startBenchStack(
    undefined,
    {
      ...topology.env,
      REDIS_ACK_REPLICAS: values['ack-replicas'],
      RESULT_TTL_S: String(keptS),
    },
    1,
    {},
    [],
    { server: topology, pid: topology.pidOn(topology.port) },
  );
  const { stack } = bench;
  // Follows the primary through every failover, as the stack's processes do.
  const redis: RedisConnection = connectRedis(
    redisTarget({
      REDIS_URL: topology.url,
      REDIS_CLUSTER_NODES: [],
      REDIS_SENTINELS: topology.sentinels,
      REDIS_SENTINEL_NAME: SENTINEL_NAME,
    }),
  );
  redis.on('error', () => undefined);
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
      `capacity ${fmt(capacity)} requests/s; soaking at ${fmt(rate)}/s for ${minutes} min, ` +
        `a worker and the Redis primary SIGKILLed every ${values['fault-minutes']} min, ` +
        `REDIS_ACK_REPLICAS=${values['ack-replicas']}, async predictions kept ${keptS} s`,
    );

    // Every process by a name of its own: a worker started in place of a killed one is another.
    const pids = new Map<string, number>([
      ['api', stack.api.child.pid!],
      ['worker 1', stack.workers[0].child.pid!],
    ]);
    for (const port of topology.serverPorts) pids.set(`redis :${port}`, topology.pidOn(port));
    const samples: { t: number; mb: Record<string, number> }[] = [];
    const start = Date.now();
    const sample = async () => {
      const mb: Record<string, number> = {};
      try {
        const info = await redis.info('memory');
        mb['redis data'] = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0) / 1024 / 1024;
      } catch {
        // the primary is changing: no figure this time
      }
      for (const [name, pid] of pids) {
        const rss = rssMb(pid);
        if (rss !== undefined) mb[name] = rss;
      }
      samples.push({ t: (Date.now() - start) / 60_000, mb });
      console.log(
        `${fmt(samples.at(-1)!.t, 1).padStart(5)} min  ` +
          Object.entries(mb)
            .map(([k, v]) => `${k} ${fmt(v)} MB`)
            .join('  '),
      );
    };

    const faults: string[] = [];
    let workers = 1;
    const injectFaults = async () => {
      const at = fmt((Date.now() - start) / 60_000, 1);
      // A worker dies mid-load; another is started, as a supervisor would.
      const victim = stack.workers.find((w) => w.running)!;
      process.kill(victim.child.pid!, 'SIGKILL');
      const replacement = stack.addWorker();
      await replacement.waitForLog('worker started', 120_000);
      pids.set(`worker ${++workers}`, replacement.child.pid!);
      // The Redis primary dies; a replica is promoted; the dead one comes back as a replica.
      const old = await topology.primaryPort();
      process.kill(topology.pidOn(old), 'SIGKILL');
      const t0 = Date.now();
      const promoted = await topology.promotedFrom(old, 1);
      const failoverS = (Date.now() - t0) / 1000;
      await topology.restart(old);
      pids.set(`redis :${old}`, topology.pidOn(old));
      await topology.promotedFrom(old, 2);
      faults.push(
        `${at} min: worker SIGKILLed, another started; primary :${old} SIGKILLed, ` +
          `:${promoted} promoted in ${fmt(failoverS, 1)} s, :${old} back as a replica`,
      );
      console.log(`  fault: ${faults.at(-1)}`);
    };

    // Open loop: one request every 1/rate s, 4 in 5 sync, 1 in 5 an async create.
    const end = start + minutes * 60_000;
    const asyncIds: string[] = [];
    /** When each async job was accepted, in minutes of the run. */
    const acceptedAt = new Map<string, number>();
    const outcomes = { sync_ok: 0, sync_refused: 0, async_accepted: 0, async_refused: 0 };
    const refusals = new Map<string, number>();
    const inFlight = new Set<Promise<void>>();
    let sent = 0;
    let notSent = 0;
    // About two seconds of the offered rate in flight at most.
    const maxInFlight = Math.max(64, Math.ceil(rate * 2));
    let nextSample = start;
    let nextFault = start + faultMs;
    let faulting: Promise<void> | undefined;
    while (Date.now() < end) {
      if (Date.now() >= nextSample) {
        await sample();
        nextSample += sampleMs;
      }
      if (!faulting && Date.now() >= nextFault && nextFault < end) {
        nextFault += faultMs;
        faulting = injectFaults().finally(() => (faulting = undefined));
      }
      // A stack that falls behind the offered rate would otherwise leave its backlog queued in
      // the client, answered long after the run's end (a 60-minute run on a loaded machine went
      // on for 107): past `maxInFlight`, a due request is counted as not sent instead.
      if (inFlight.size >= maxInFlight) {
        notSent++;
        const due = start + ((sent + notSent) / rate) * 1000;
        await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
        continue;
      }
      const i = sent++;
      const request = (async () => {
        try {
          if (i % 5 === 4) {
            const r = await bench.post('/v1/predictions', {
              model: 'ag-news-bert',
              input: { data: [texts[i % texts.length]] },
            });
            if (r.status === 202) {
              outcomes.async_accepted++;
              const { id } = r.body as { id: string };
              asyncIds.push(id);
              acceptedAt.set(id, (Date.now() - start) / 60_000);
              return;
            }
            outcomes.async_refused++;
            refusals.set(String(r.status), (refusals.get(String(r.status)) ?? 0) + 1);
          } else {
            const r = await sync(i);
            if (r.status === 200) {
              outcomes.sync_ok++;
              return;
            }
            outcomes.sync_refused++;
            refusals.set(String(r.status), (refusals.get(String(r.status)) ?? 0) + 1);
          }
        } catch (error) {
          const code = (error as { code?: string }).code ?? (error as Error).name;
          refusals.set(code, (refusals.get(code) ?? 0) + 1);
        }
      })();
      inFlight.add(request);
      void request.finally(() => inFlight.delete(request));
      const due = start + ((sent + notSent) / rate) * 1000;
      await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
    }
    await Promise.all(inFlight);
    await faulting;
    await sample();

    // Every accepted async job must reach a terminal state.
    const terminal = new Map<string, string>();
    await eventually(
      'every accepted job to finish',
      async () => {
        for (const id of asyncIds.filter((id) => !terminal.has(id))) {
          const view = await stack.request('GET', `/v1/predictions/${id}`);
          const status =
            view.status === 404 ? 'gone' : ((view.body as { status?: string }).status ?? '');
          if (TERMINAL.includes(status) || status === 'gone') terminal.set(id, status);
        }
        return terminal.size === asyncIds.length ? true : undefined;
      },
      300_000,
      1000,
    ).catch(() => undefined);
    const count = (status: string) => [...terminal.values()].filter((s) => s === status).length;
    const lost = asyncIds.length - count('succeeded') - count('failed') - count('canceled');

    console.log(`\nfaults:\n${faults.map((f) => `  ${f}`).join('\n') || '  none'}`);
    // When the lost jobs had been accepted: beside the faults, or spread over the run.
    const lostAt = new Map<string, number>();
    for (const id of asyncIds.filter(
      (id) => !['succeeded', 'failed', 'canceled'].includes(terminal.get(id) ?? ''),
    )) {
      const minute = fmt(acceptedAt.get(id) ?? -1, 2);
      lostAt.set(minute, (lostAt.get(minute) ?? 0) + 1);
    }
    if (lostAt.size)
      console.log(
        `lost jobs by when they were accepted (min: count): ${[...lostAt].map(([m, n]) => `${m}: ${n}`).join(', ')}`,
      );
    console.log('\nmemory slope (MB per hour, least squares over the samples of each process):');
    const names = [...new Set(samples.flatMap((s) => Object.keys(s.mb)))];
    for (const name of names) {
      const points = samples.filter((s) => s.mb[name] !== undefined);
      if (points.length < 2) continue;
      const xs = points.map((s) => s.t / 60);
      const ys = points.map((s) => s.mb[name]);
      console.log(
        `  ${name.padEnd(12)} ${fmt(ys[0])} → ${fmt(ys.at(-1)!)} MB (max ${fmt(Math.max(...ys))}) ` +
          `over ${fmt(points.at(-1)!.t - points[0].t, 1)} min, slope ${fmt(slope(xs, ys))} MB/h`,
      );
    }
    console.log(
      `\nrequests sent ${sent} (not sent, ${maxInFlight} in flight already: ${notSent}): sync ok ${outcomes.sync_ok}, sync refused ${outcomes.sync_refused}; ` +
        `async accepted ${outcomes.async_accepted} (refused ${outcomes.async_refused}), ` +
        `succeeded ${count('succeeded')}, failed ${count('failed')}, lost ${lost}` +
        `\nrefusals by answer: ${[...refusals].map(([k, n]) => `${k}: ${n}`).join(', ') || '-'}`,
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
