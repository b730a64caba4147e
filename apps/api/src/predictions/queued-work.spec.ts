import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QueuedWork, type QueueReading } from './queued-work';

/** A reading of `jobs` queued jobs whose counters say `jobsAhead` jobs of `textsAhead` texts. */
function reading(jobs: number, jobsAhead: number, textsAhead: number): QueueReading {
  return {
    jobs,
    counters: {
      addedJobs: 100 + jobsAhead,
      startedJobs: 100,
      addedTexts: 700 + textsAhead,
      startedTexts: 700,
    },
  };
}

function workOf(jobs: number, jobsAhead = jobs, textsAhead = jobs): QueuedWork {
  const work = new QueuedWork();
  work.read(reading(jobs, jobsAhead, textsAhead));
  return work;
}

describe('QueuedWork (what Admission weighs)', () => {
  it('counts the texts queued as the jobs read times the texts a job not yet taken holds', () => {
    const work = workOf(4, 4, 20);
    assert.equal(work.jobs, 4);
    assert.equal(work.texts, 20);
    assert.equal(work.waitS(10), 2);
    assert.equal(work.jobsWaitS(2, 10), 1);
  });

  it('takes a job for one text while the counters show none ahead', () => {
    const work = workOf(3, 0, 0);
    assert.equal(work.texts, 3);
  });

  it('follows the jobs read when the queue lost jobs the counters still count (emptied by hand)', () => {
    const work = workOf(0, 50, 500);
    assert.equal(work.texts, 0);
    assert.equal(work.waitS(1), 0);
  });

  it('gives no wait while no worker reports a throughput, so it sheds nothing', () => {
    const work = workOf(1000, 1000, 100_000);
    assert.equal(work.waitS(0), 0);
    assert.equal(work.jobsWaitS(10, 0), 0);
    assert.deepEqual(work.offerSync(5, 0, 1), { admitted: true, waitS: 0 });
  });

  it('weighs each sync call behind the ones admitted before it, and refuses past the limit', () => {
    const work = workOf(0);
    // 10 texts per second, 1 s at most: the wait is what is queued before the call.
    assert.deepEqual(work.offerSync(8, 10, 1), { admitted: true, waitS: 0 });
    assert.deepEqual(work.offerSync(2, 10, 1), { admitted: true, waitS: 0.8 });
    assert.deepEqual(work.offerSync(1, 10, 1), { admitted: true, waitS: 1 });
    const refused = work.offerSync(1, 10, 1);
    assert.equal(refused.admitted, false);
    assert.ok(Math.abs(refused.waitS - 1.1) < 1e-9);
    // A refused call is not counted: the next one sees the same wait.
    assert.equal(work.texts, 11);
  });

  it('admits a large call to an idle version: its own texts are not part of its wait', () => {
    const work = workOf(0);
    assert.deepEqual(work.offerSync(10_000, 10, 1), { admitted: true, waitS: 0 });
  });

  it('counts an admitted async create as a job of its own, with its texts', () => {
    const work = workOf(2, 2, 6);
    work.admitAsync(5);
    work.admitAsync(1);
    assert.equal(work.jobs, 4);
    assert.equal(work.texts, 12);
  });

  it('forgets what it admitted at the next reading, which holds it', () => {
    const work = workOf(0);
    work.admitAsync(5);
    work.offerSync(3, 10, 60);
    assert.equal(work.jobs, 1);
    assert.equal(work.texts, 8);
    work.read(reading(1, 1, 5));
    assert.equal(work.jobs, 1);
    assert.equal(work.texts, 5);
  });
});
