import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Worker, type Job, type Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { LocalRedis, VersionQueues, batchParentQueueName, bulkQueueName } from '@app/common';
import { REMOVAL_SLICE, removeWaitingChildren } from '../../apps/api/src/batches/chunk-removal';
import { track, untrack } from '../support/children';

const CHUNKS = 2000;

/**
 * Cancelling a batch removes its chunks no worker holds. Each Redis command of that removal stays
 * bounded whatever the batch's size (a command longer than REDIS_COMMAND_TIMEOUT_MS fails the
 * request on a busy Redis); BullMQ's removeUnprocessedChildren, the control, is one script over
 * every chunk. Sizes are read from MONITOR: the commands a script runs appear one after another.
 */
describe('removeWaitingChildren', () => {
  let server: LocalRedis | undefined;
  const connections: Redis[] = [];
  let queues: VersionQueues | undefined;
  let worker: Worker | undefined;
  after(async () => {
    await worker?.close(true).catch(() => undefined);
    await queues?.close().catch(() => undefined);
    for (const c of connections) c.disconnect();
    if (server) {
      await server.stop();
      untrack(server.pid);
    }
  });

  const connect = () => {
    const c = new Redis(server!.url, { maxRetriesPerRequest: null });
    c.on('error', () => undefined);
    connections.push(c);
    return c;
  };

  /** Runs `work` and returns the longest run of commands one script made, and the most args. */
  async function measure(work: () => Promise<unknown>) {
    const monitor = await connect().monitor();
    let run = 0;
    let longestScript = 0;
    let mostArgs = 0;
    let done: () => void;
    const ended = new Promise<void>((resolve) => (done = resolve));
    const marker = `end-${Math.random()}`;
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (source === 'lua') {
        run += 1;
        longestScript = Math.max(longestScript, run);
        return;
      }
      run = 0;
      mostArgs = Math.max(mostArgs, args.length);
      if (args[1] === marker) done();
    });
    await work();
    await connections[0].echo(marker);
    await ended;
    monitor.disconnect();
    return { longestScript, mostArgs };
  }

  async function batch(id: string, parents: Queue, chunkQueue: Queue) {
    const children = Array.from({ length: CHUNKS }, (_, k) => ({
      name: 'chunk',
      queueName: chunkQueue.name,
      data: { texts: ['a', 'b', 'c', 'd'] },
      opts: { jobId: `${id}-${k}`, ignoreDependencyOnFailure: true },
    }));
    await queues!.flows().add({
      name: 'batch',
      queueName: parents.name,
      data: {},
      opts: { jobId: id },
      children,
    });
  }

  it('removes every unheld chunk in bounded commands', { timeout: 300_000 }, async () => {
    server = await LocalRedis.start();
    track(server.pid);
    queues = new VersionQueues(connect(), 'mf');
    const parents = queues.queue(batchParentQueueName('m', '1'));
    const chunkQueue = queues.queue(bulkQueueName('m', '1'));
    await parents.waitUntilReady();
    await chunkQueue.waitUntilReady();

    // Control: BullMQ's single call, one script whose commands grow with the batch.
    await batch('control', parents, chunkQueue);
    const parent = (await parents.getJob('control')) as Job;
    const control = await measure(() => parent.removeUnprocessedChildren());
    assert.ok(control.longestScript > CHUNKS, `one script ran ${control.longestScript} commands`);
    assert.equal(await chunkQueue.count(), 0);

    // Two chunks are in a worker's hands while the batch is cancelled.
    await batch('b', parents, chunkQueue);
    worker = new Worker(chunkQueue.name, null, {
      connection: connect(),
      prefix: 'mf',
      autorun: false,
    });
    const held = [await worker.getNextJob('t1'), await worker.getNextJob('t2')];
    assert.ok(
      held.every((job) => job?.id),
      'a worker holds two chunks',
    );

    let removed = 0;
    const sliced = await measure(async () => {
      removed = await removeWaitingChildren(parents, 'b', chunkQueue);
    });
    assert.equal(removed, CHUNKS - 2);
    assert.ok(sliced.longestScript < 100, `one script ran ${sliced.longestScript} commands`);
    assert.ok(sliced.mostArgs <= REMOVAL_SLICE + 2, `one command had ${sliced.mostArgs} args`);

    // The held chunks are left to finish; the batch's parent is released once they do.
    const b = (await parents.getJob('b')) as Job;
    assert.deepEqual((await b.getDependenciesCount({ unprocessed: true })).unprocessed, 2);
    assert.equal(await b.getState(), 'waiting-children');
    await held[0].moveToCompleted({ output: [] }, 't1', false);
    await held[1].moveToFailed(new Error('gave up'), 't2', false);
    assert.equal(await held[0].getState(), 'completed');
    assert.equal(await held[1].getState(), 'failed');
    assert.equal(await chunkQueue.getJobCountByTypes('wait', 'delayed', 'active'), 0);
    assert.equal(await b.getState(), 'waiting');

    // A refused upload keeps one chunk so its parent is not released, then goes with it.
    await batch('refused', parents, chunkQueue);
    assert.equal(
      await removeWaitingChildren(parents, 'refused', chunkQueue, { keep: 1 }),
      CHUNKS - 1,
    );
    assert.equal(await (await parents.getJob('refused'))!.getState(), 'waiting-children');
    assert.equal(await parents.remove('refused'), 1);
    assert.equal(await chunkQueue.getJobCountByTypes('wait', 'delayed'), 0);
  });
});
