import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QueuedWork } from '../../apps/api/src/predictions/queued-work';

/** A queue read with `jobs` jobs not yet taken, which carry `texts` texts between them. */
const queueOf = (jobs: number, texts: number) => ({
  jobs,
  counters: {
    addedJobs: 100 + jobs,
    addedTexts: 5000 + texts,
    startedJobs: 100,
    startedTexts: 5000,
  },
});

/** How many of `calls` sync calls of `texts` texts each are admitted, weighed one after another. */
function admitted(work: QueuedWork, calls: number, texts: number, rate: number, limitS: number) {
  let count = 0;
  for (let i = 0; i < calls; i++) if (work.offerSync(texts, rate, limitS).admitted) count++;
  return count;
}

// A version whose workers answer 64 texts a second, with 5 s to answer a sync call.
const RATE = 64;
const LIMIT_S = 5;

describe('sync admission counts texts: an overload gets early 503s, not 504s after the wait', () => {
  it('a burst of 64-text calls read against one empty queue: only those that start in time pass', () => {
    const work = new QueuedWork();
    work.read(queueOf(0, 0));
    // Each call waits for those admitted before it: 0 s, 1 s, ... 5 s.
    assert.equal(admitted(work, 20, 64, RATE, LIMIT_S), 6);
  });

  it('the wait is the work queued before the call, whatever its own size', () => {
    const work = new QueuedWork();
    work.read(queueOf(5, 5 * 64));
    assert.deepEqual(work.offerSync(1000, RATE, LIMIT_S), { admitted: true, waitS: 5 });
    assert.deepEqual(work.offerSync(1, RATE, LIMIT_S), { admitted: false, waitS: 5 + 1000 / 64 });
  });

  it('queued jobs count at the texts they carry, coalesced calls included', () => {
    // 6 jobs of 64 coalesced one-text calls each: 6 s of work, whatever the size of a call.
    const work = new QueuedWork();
    work.read(queueOf(6, 6 * 64));
    assert.equal(work.offerSync(1, RATE, LIMIT_S).admitted, false);
  });

  it('control: a queue of 6 one-text jobs admits one-text calls until 5 s of texts wait', () => {
    const work = new QueuedWork();
    work.read(queueOf(6, 6));
    // Admitted while the texts before the call are 5 s of work or less: 6, 7, ... 320 texts.
    assert.equal(admitted(work, 1000, 1, RATE, LIMIT_S), LIMIT_S * RATE - 6 + 1);
  });

  it('a fresh reading replaces what was admitted before it (it is in the queue now)', () => {
    const work = new QueuedWork();
    work.read(queueOf(0, 0));
    assert.equal(admitted(work, 5, 64, RATE, LIMIT_S), 5);
    work.read(queueOf(2, 128));
    assert.equal(work.texts, 128);
  });

  it('without a throughput reported, nothing is shed (no estimate to shed on)', () => {
    const work = new QueuedWork();
    work.read(queueOf(1000, 64_000));
    assert.equal(admitted(work, 10, 64, 0, LIMIT_S), 10);
  });

  it('counters that lost track (jobs gone without a count) shift the mean, not the total', () => {
    const work = new QueuedWork();
    // The counters say 10,000 jobs of 640,000 texts wait; the queue holds 2 jobs.
    work.read({
      jobs: 2,
      counters: { addedJobs: 10_000, addedTexts: 640_000, startedJobs: 0, startedTexts: 0 },
    });
    assert.equal(work.texts, 128);
  });
});
