import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Queue, type KeepJobs } from 'bullmq';
import {
  BATCH_QUEUE,
  WEBHOOK_QUEUE,
  batchParentQueueName,
  bulkQueueName,
  predictionQueueName,
} from '@app/common';
import { eventually } from '../support/processes';
import { Stack } from '../support/stack';
import { WebhookSink } from '../support/webhook-sink';
import { agNewsSample } from '../support/texts';

const MODEL = 'ag-news-bert';
/** Not the default: every kept job must take its age from the settings, none a fixed one. */
const RESULT_TTL_S = 7200;
const SYNC_RESULT_TTL_S = 30;

/** How long a finished job is kept, from its own options: 0 for none, Infinity for ever. */
function keptS(option: boolean | number | KeepJobs | undefined): number {
  if (option === true) return 0;
  if (option === false || option === undefined) return Infinity;
  if (typeof option === 'number') return option === 0 ? 0 : Infinity;
  if ('age' in option) return option.age;
  return option.count === 0 ? 0 : Infinity;
}

/**
 * BullMQ removes, as each job finishes, every finished job of its queue older than the age that
 * job carries: a queue whose jobs carry different ages lets a short-lived kind trim a long-lived
 * kind's jobs, and a job that carries none stays for ever. So every finished job of every queue
 * must carry its queue's one age, from RESULT_TTL_S (or nothing at all, a kind removed at once).
 * Control: against the build before this change, webhook deliveries carried a fixed 86,400 s and
 * their dead letters none (kept for ever), and the test fails on both.
 */
describe('how long each kind of finished job is kept', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'modelfleet-data-'));
  let stack: Stack;
  let delivered: WebhookSink;
  let refused: WebhookSink;
  const queues: Queue[] = [];

  before(async () => {
    writeFileSync(
      join(dataDir, 'rows.jsonl'),
      agNewsSample(5)
        .map((text) => JSON.stringify({ text }))
        .join('\n') + '\n',
    );
    delivered = await WebhookSink.start();
    refused = await WebhookSink.start();
    refused.status = () => 500;
    stack = await Stack.start({
      env: {
        DATA_DIR: dataDir,
        RESULT_TTL_S: String(RESULT_TTL_S),
        SYNC_RESULT_TTL_S: String(SYNC_RESULT_TTL_S),
      },
    });
  });

  after(async () => {
    await Promise.all(queues.map((q) => q.close()));
    await stack?.stop();
    await delivered?.close();
    await refused?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('every finished job of a queue carries the one age its settings give, none kept for ever', async () => {
    const sync = await stack.request('POST', `/predictions/${MODEL}`, { data: ['Oil prices'] });
    assert.equal(sync.status, 200, JSON.stringify(sync.body));
    const ids: string[] = [];
    for (const sink of [delivered, refused]) {
      const created = await stack.request('POST', '/v1/predictions', {
        model: MODEL,
        input: { data: ['Stocks rallied'] },
        webhook: sink.url,
      });
      assert.equal(created.status, 202, JSON.stringify(created.body));
      ids.push(created.body.id);
    }
    const batch = await stack.request('POST', '/v1/batches', {
      model: MODEL,
      path: 'rows.jsonl',
      text: 'text',
      webhook: delivered.url,
    });
    assert.equal(batch.status, 202, JSON.stringify(batch.body));
    const done = await stack.batchFinished(batch.body.id);
    assert.equal(done.counts.succeeded, 5, JSON.stringify(done));
    for (const [id, status] of [
      [ids[0], 'delivered'],
      [ids[1], 'dead_letter'],
    ]) {
      await eventually(`the webhook of ${id} to be ${status}`, async () => {
        const read = await stack.request('GET', `/v1/predictions/${id}`);
        return read.body.webhook?.status === status ? true : undefined;
      });
    }

    const prefix = 'mf';
    const names = [
      predictionQueueName(MODEL, '1'),
      bulkQueueName(MODEL, '1'),
      batchParentQueueName(MODEL, '1'),
      WEBHOOK_QUEUE,
      BATCH_QUEUE,
    ];
    const ages: Record<string, number[]> = {};
    for (const name of names) {
      const queue = new Queue(name, { connection: { url: stack.redis.url }, prefix });
      queues.push(queue);
      const jobs = await queue.getJobs(['completed', 'failed'], 0, -1);
      ages[name] = [
        ...new Set(
          jobs.map((job) =>
            keptS(job.failedReason ? job.opts.removeOnFail : job.opts.removeOnComplete),
          ),
        ),
      ];
    }
    assert.deepEqual(ages, {
      // Sync calls and async predictions share the longer TTL (the sync ones are swept sooner).
      [predictionQueueName(MODEL, '1')]: [RESULT_TTL_S],
      [bulkQueueName(MODEL, '1')]: [RESULT_TTL_S],
      [batchParentQueueName(MODEL, '1')]: [RESULT_TTL_S],
      // Delivered and dead alike, of predictions and of batches.
      [WEBHOOK_QUEUE]: [RESULT_TTL_S],
      // A batch summed up leaves nothing behind.
      [BATCH_QUEUE]: [],
    });
  });
});
