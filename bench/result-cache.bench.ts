/**
 * What the result cache costs and buys around the forward pass: AG News test texts in groups of
 * 64 through a real inference thread and a real Redis, without the cache, with it cold (every
 * text a miss) and warm (every text a hit), and the cache's own work on a cold pass alone.
 *
 *   npm run build && node dist/bench/result-cache.bench.js [--limit N]
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { loadModelPackage, packingLimits } from '@app/handler/package';
import { ResultCache, type Classifier } from '../apps/worker/src/batching/result-cache';
import { InferenceClient } from '../apps/worker/src/runtime/inference-client';
import { TestRedis } from '../test/support/redis-server';
import { DEMO_MODEL, agNewsTest, fmt } from './data';

const GROUP = 64;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { limit: { type: 'string' } } });
  const texts = agNewsTest(values.limit ? Number(values.limit) : 3000).map((r) => r.text);
  const groups: string[][] = [];
  for (let i = 0; i < texts.length; i += GROUP) groups.push(texts.slice(i, i + GROUP));
  const redis = await TestRedis.start();
  const connection = new Redis(redis.url);
  const pkg = await loadModelPackage(DEMO_MODEL);
  const client = await InferenceClient.start(
    {
      packagePath: resolve(DEMO_MODEL),
      device: 'cpu',
      intraOpNumThreads: 0,
      maxArchiveBytes: 1024 ** 3,
      maxArchiveEntries: 1000,
      allowPackageCode: false,
      batching: packingLimits(pkg.manifest.batching),
      bulkPassMs: 50,
    },
    () => undefined,
  );
  const log = { warn: (_: object, message: string) => process.stderr.write(`${message}\n`) };
  const cache = (version: string) =>
    new ResultCache(connection, 'bench', { name: 'bench', version }, 600, log as never);
  /** Texts per second over every group. */
  const rate = async (run: (group: string[]) => Promise<unknown>) => {
    const start = performance.now();
    for (const group of groups) await run(group);
    return texts.length / ((performance.now() - start) / 1000);
  };
  // The cache's work without the forward passes: a classifier that answers at once.
  const instant: Classifier = {
    cacheKeys: (group) => client.cacheKeys(group),
    classify: (group) =>
      Promise.resolve({
        results: group.map(() => ({ label: 1, label_name: 'Sports', probability: 0.9 })),
        batches: [],
        batchOf: group.map(() => 0),
        preprocessMs: 0,
      }),
  };
  try {
    await rate((group) => client.classify(group)); // warm-up
    const without = await rate((group) => client.classify(group));
    const cold = cache('cold');
    const coldRate = await rate((group) => cold.classify(client, group));
    const warmRate = await rate((group) => cold.classify(client, group));
    const alone = await rate((group) => cache('alone').classify(instant, group));
    const keys = await rate((group) => client.cacheKeys(group));
    process.stdout.write(
      [
        `result cache, ${pkg.manifest.name}, ${texts.length} AG News test texts in groups of ${GROUP}`,
        '| path | texts/s | x no cache |',
        '|---|---:|---:|',
        `| no cache | ${fmt(without)} | 1.00 |`,
        `| cache on, cold (every text a miss) | ${fmt(coldRate)} | ${fmt(coldRate / without, 2)} |`,
        `| cache on, warm (every text a hit) | ${fmt(warmRate)} | ${fmt(warmRate / without, 2)} |`,
        `cache work alone on a cold pass: ${fmt(1e6 / alone, 1)} us/text, of which the keys' round trip (tokenizing) ${fmt(1e6 / keys, 1)} us/text`,
        '',
      ].join('\n'),
    );
  } finally {
    await client.close();
    connection.disconnect();
    await redis.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
