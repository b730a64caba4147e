import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { isDeepStrictEqual } from 'node:util';
import { createGzip, gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { batchParentQueueName, bulkQueueName, commonSettings } from '@app/common';
import { launchApi } from '../support/api-process';
import { eventually } from '../support/processes';
import { MANAGEMENT_TOKEN, Stack } from '../support/stack';

/** The default of BATCH_MAX_ROWS, which the stack's API runs with. */
const DEFAULT_MAX_ROWS = 1_000_000;
/** The row limit of a second API on the same Redis, for the limit's edges. */
const SMALL_MAX_ROWS = 3000;
/** Growth of the API's peak resident memory allowed while it reads the hostile upload. */
const MEMORY_BOUND_BYTES = 300 * 1024 * 1024;

/** `bytes` of `{}` lines, gzip-compressed as they are made (200 MB make about 200 KB). */
function gzipOfEmptyObjects(bytes: number): Promise<Buffer> {
  const block = Buffer.from('{}\n'.repeat(1 << 18));
  const blocks = Math.ceil(bytes / block.length);
  return buffer(
    Readable.from(
      (function* () {
        for (let i = 0; i < blocks; i++) yield block;
      })(),
    ).pipe(createGzip()),
  );
}

/** A JSONL dataset of `rows` short news texts. */
const jsonl = (rows: number) =>
  Array.from({ length: rows }, (_, i) => `{"text":"Stocks rally on earnings, item ${i}"}\n`).join(
    '',
  );

/** Resident memory of a process, now and at its peak, in bytes (Linux). */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)![1]);
  return { rss: kb('VmRSS') * 1024, peak: kb('VmHWM') * 1024 };
}

/** Asks `url` again and again until `work` settles; every answer's status (0: no answer). */
async function sampleWhile<T>(url: string, work: Promise<T>) {
  const samples: { status: number; ms: number }[] = [];
  let settled = false;
  const sampling = (async () => {
    while (!settled) {
      const start = performance.now();
      const status = await fetch(url).then(
        async (r) => (await r.arrayBuffer(), r.status),
        () => 0,
      );
      samples.push({ status, ms: performance.now() - start });
    }
  })();
  try {
    return { result: await work, samples };
  } finally {
    settled = true;
    await sampling;
  }
}

describe('batch uploads', () => {
  let stack: Stack;
  let small: ReturnType<typeof launchApi>;
  let smallUrl: string;
  let redis: Redis;
  let queues: Queue[];

  before(async () => {
    stack = await Stack.start();
    small = launchApi(stack.redis.url, {
      ...stack.environment,
      MANAGEMENT_TOKEN,
      BATCH_MAX_ROWS: String(SMALL_MAX_ROWS),
    });
    smallUrl = `http://127.0.0.1:${(await small.listening()).port}`;
    redis = new Redis(stack.redis.url);
    const options = {
      connection: { url: stack.redis.url },
      prefix: commonSettings.KEY_PREFIX.parse(stack.environment.KEY_PREFIX),
    };
    queues = [bulkQueueName, batchParentQueueName].map(
      (name) => new Queue(name('ag-news-bert', '1'), options),
    );
  });

  after(async () => {
    await Promise.all((queues ?? []).map((q) => q.close()));
    redis?.disconnect();
    await small?.stop();
    await stack?.stop();
  });

  /** Jobs of the version's bulk and batch-parent queues, in every state, and batch keys. */
  const leftovers = async () => ({
    jobs: await Promise.all(queues.map((q) => q.getJobCounts())),
    batchKeys: (await redis.keys('*:batch:{*')).sort(),
  });

  const upload = (base: string, query: string, body: Buffer | string, gzip = false) =>
    fetch(`${base}/v1/batches?model=ag-news-bert&text=text${query}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-ndjson',
        ...(gzip ? { 'content-encoding': 'gzip' } : {}),
      },
      body,
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as any })); // eslint-disable-line @typescript-eslint/no-explicit-any

  describe('bounds', () => {
    it('answers a 200 KB gzip body of 200 MB of {} lines with memory bounded and /healthz answering', async (t) => {
      const body = await gzipOfEmptyObjects(200 * 1024 * 1024);
      t.diagnostic(`gzip body: ${body.length} bytes`);
      const before = await leftovers();
      const pid = stack.api.child.pid!;
      const start = memoryOf(pid);
      const { result, samples } = await sampleWhile(
        `${stack.metricsUrl}/healthz`,
        upload(stack.apiUrl, '', body, true),
      );
      const end = memoryOf(pid);
      const slowest = Math.max(...samples.map((s) => s.ms));
      t.diagnostic(
        `peak RSS +${((end.peak - start.rss) / 2 ** 20).toFixed(0)} MiB over ${(start.rss / 2 ** 20).toFixed(0)} MiB; ` +
          `${samples.length} /healthz samples, slowest ${slowest.toFixed(0)} ms`,
      );
      assert.equal(result.status, 413, JSON.stringify(result.body));
      assert.equal(result.body.title, 'Too many rows');
      assert.equal(result.body.max_rows, DEFAULT_MAX_ROWS);
      assert.match(result.body.detail, /BATCH_MAX_ROWS/);
      assert.ok(end.peak - start.rss < MEMORY_BOUND_BYTES, `peak ${end.peak} from ${start.rss}`);
      assert.ok(samples.length > 0);
      assert.deepEqual(
        samples.filter((s) => s.status !== 200),
        [],
        'every /healthz sample during the upload answered 200',
      );
      assert.ok(stack.api.running);
      assert.deepEqual(await leftovers(), before, 'the refused upload left nothing behind');
    });

    it('refuses one row over BATCH_MAX_ROWS (413) after staging chunks, and removes them', async () => {
      const before = await leftovers();
      // Chunks of 8 rows: the API has staged over a hundred before the row past the limit.
      const response = await upload(smallUrl, '&chunk_size=8', jsonl(SMALL_MAX_ROWS + 1));
      assert.equal(response.status, 413, JSON.stringify(response.body));
      assert.equal(response.body.title, 'Too many rows');
      assert.equal(response.body.max_rows, SMALL_MAX_ROWS);
      assert.match(response.body.type, /too-many-rows$/);
      assert.deepEqual(await leftovers(), before, 'no staged chunk, parent or row error is left');
    });

    it('removes the staged chunks of an upload whose client goes away half-way', async () => {
      const before = await leftovers();
      const url = new URL(`${smallUrl}/v1/batches?model=ag-news-bert&text=text&chunk_size=8`);
      const request = httpRequest(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson' },
      });
      request.on('error', () => undefined);
      request.write(jsonl(1000));
      const [bulk] = queues;
      await eventually('chunks of the upload to be staged', async () =>
        (await bulk.getJobCounts('delayed')).delayed > 0 ? true : undefined,
      );
      request.destroy();
      await eventually('the staged chunks to be removed', async () =>
        isDeepStrictEqual(await leftovers(), before) ? true : undefined,
      );
    });

    it('accepts a dataset of exactly BATCH_MAX_ROWS rows', async () => {
      const response = await upload(smallUrl, '&chunk_size=64', jsonl(SMALL_MAX_ROWS));
      assert.equal(response.status, 202, JSON.stringify(response.body));
      assert.equal(response.body.counts.total, SMALL_MAX_ROWS);
      const [bulk] = (await leftovers()).jobs;
      assert.equal(bulk.delayed, 0, 'every chunk was released before the answer');
      // Its scores are not the point here: stop it.
      const canceled = await stack.request('POST', `/v1/batches/${response.body.id}/cancel`);
      assert.equal(canceled.status, 200, JSON.stringify(canceled.body));
      assert.equal(canceled.body.status, 'canceled');
    });

    it('control: a small gzip upload is accepted, streamed and scored', async () => {
      const response = await upload(stack.apiUrl, '', gzipSync(jsonl(40) + '{}\n[]\n'), true);
      assert.equal(response.status, 202, JSON.stringify(response.body));
      const done = await stack.batchFinished(response.body.id);
      assert.equal(done.status, 'succeeded');
      assert.deepEqual(
        { succeeded: done.counts.succeeded, invalid: done.counts.invalid },
        { succeeded: 40, invalid: 2 },
      );
      const rows = await stack.jsonlRows(done.urls.results);
      assert.equal(rows.length, 40);
      assert.ok(rows.every((r) => typeof r.label_name === 'string'));
      const errors = await stack.jsonlRows(done.urls.errors);
      assert.deepEqual(
        errors.map((e) => e.line),
        [41, 42],
      );
    });
  });

  describe('result rows', () => {
    it('refuses a passthrough column named as any field a scored row carries (400), provenance included', async () => {
      // Rows with every optional field: a gold label, probabilities, provenance.
      const dataset = ['Oil prices surge', 'Team wins the cup']
        .map((text) => JSON.stringify({ text, gold: 'Business', source: 'wire' }) + '\n')
        .join('');
      const created = await upload(
        stack.apiUrl,
        '&label=gold&probabilities=true&passthrough=source',
        dataset,
      );
      assert.equal(created.status, 202, JSON.stringify(created.body));
      const done = await stack.batchFinished(created.body.id);
      const [row] = await stack.jsonlRows(done.urls.results);
      const csv = (await stack.request('GET', `${done.urls.results}?format=csv&provenance=true`))
        .body as string;
      const columns = [
        ...Object.keys(row).filter((k) => k !== 'source'),
        ...csv
          .split('\n')[0]
          .split(',')
          .filter((c) => c.startsWith('provenance_')),
      ];
      // Control: the rows carry what the names are refused for, the passthrough column too.
      assert.ok(
        columns.includes('provenance') && columns.includes('provenance_model'),
        columns.join(),
      );
      assert.equal(row.provenance.model, 'ag-news-bert');
      assert.equal(row.source, 'wire');
      for (const column of columns) {
        const response = await upload(
          stack.apiUrl,
          `&passthrough=${column}`,
          JSON.stringify({ text: 'Oil prices surge', [column]: 'forged' }) + '\n',
        );
        assert.equal(response.status, 400, `${column}: ${JSON.stringify(response.body)}`);
        assert.ok(JSON.stringify(response.body).includes(`cannot pass through ${column}:`), column);
      }
    });
  });
});
