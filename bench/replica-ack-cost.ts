import { Redis } from 'ioredis';
import { TestRedisSentinel } from '../test/support/redis-sentinel';
import { agNewsSample } from '../test/support/texts';
import { fmt, percentile } from './data';
import { startBenchStack } from './stack';
import { stackCpu, stackMeter } from './stack-cpu';

/**
 * `--ack`: what REDIS_ACK_REPLICAS=1 costs. The same stack on the same Redis primary with one
 * replica, once with the setting off and once on, one after the other in one run: single-text
 * sync calls from 1 and from 32 clients, and async creates from 32 clients; throughput,
 * latency, the API's and Redis's CPU per request, and the WAITs the primary ran per request.
 */
export async function ackCost(): Promise<void> {
  // The repository's sample: this comparison needs no benchmark data.
  const texts = agNewsSample(400);
  const lines = [
    'REDIS_ACK_REPLICAS: single-text requests on a primary with one replica (same machine), off then on',
    '',
    '| setting | load | requests/s | p50 ms | p99 ms | API ms/request | Redis ms/request | WAITs/request |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const ack of ['0', '1']) {
    const topology = await TestRedisSentinel.start({ replicas: 1, sentinels: 0 });
    const primary = topology.pidOn(topology.port);
    const bench = await startBenchStack(undefined, { REDIS_ACK_REPLICAS: ack }, 1, {}, [], {
      server: topology,
      pid: primary,
    });
    const stats = new Redis(topology.url);
    try {
      const processes = bench.processes();
      const meter = stackMeter(processes);
      const waits = async () =>
        Number(/^cmdstat_wait:calls=(\d+)/m.exec(await stats.info('commandstats'))?.[1] ?? 0);
      const load = async (name: string, concurrency: number, count: number, async_: boolean) => {
        const latencies: number[] = [];
        let next = 0;
        const [before, waitsBefore] = [meter.read(), await waits()];
        const t0 = performance.now();
        await Promise.all(
          Array.from({ length: concurrency }, async () => {
            while (next < count) {
              const text = texts[next++ % texts.length];
              const s = performance.now();
              const response = async_
                ? await bench.post('/v1/predictions', {
                    model: 'ag-news-bert',
                    input: { data: [text] },
                  })
                : await bench.post('/predictions/ag-news-bert', { data: [text] });
              if (response.status !== (async_ ? 202 : 200))
                throw new Error(`HTTP ${response.status}: ${JSON.stringify(response.body)}`);
              latencies.push(performance.now() - s);
            }
          }),
        );
        const seconds = (performance.now() - t0) / 1000;
        const cpu = stackCpu(before, meter.read(), processes);
        const waitCalls = (await waits()) - waitsBefore;
        lines.push(
          `| ${ack === '0' ? 'off' : '1 replica'} | ${name} | ${fmt(count / seconds)} | ` +
            `${fmt(percentile(latencies, 50), 2)} | ${fmt(percentile(latencies, 99), 2)} | ` +
            `${fmt(cpu.api / count, 3)} | ${fmt(cpu.redis / count, 3)} | ${fmt(waitCalls / count, 2)} |`,
        );
      };
      await load('warm-up', 8, 300, false);
      lines.pop();
      await load('sync, 1 client', 1, 300, false);
      await load('sync, 32 clients', 32, 2000, false);
      await load('async create, 32 clients', 32, 2000, true);
    } finally {
      stats.disconnect();
      await bench.stop();
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
