import assert from 'node:assert/strict';
import { afterEach, describe, it, mock } from 'node:test';
import type { JobOutcome, PredictionJobData, PredictionJobResult } from '@app/common';
import type { VersionRecord } from '@app/registry';
import type { ApiConfig } from '../config';
import type { ModelCatalog, ResolvedVersion } from '../core/model-catalog';
import type { PredictionQueue } from './prediction-queue';
import { PredictionStore } from './prediction.store';
import { RequestCoalescer, type SyncAnswer, type SyncRequest } from './request-coalescer';

/** A job the coalescer put on a queue, and how to finish it. */
interface SentJob {
  id: string;
  data: PredictionJobData;
  waitMs: number;
  finish(outcome: JobOutcome): void;
}

/**
 * The queue side in memory: `wait` hands back a promise the test settles, `add` records the job
 * (or fails, when told to). Which texts go in which job, and who is answered with what, is the
 * coalescer's own logic under test.
 */
function memoryQueue(addFails?: Error) {
  const jobs: SentJob[] = [];
  const waits = new Map<string, { waitMs: number; finish: (outcome: JobOutcome) => void }>();
  const queue = {
    replyAddress: 'api-1',
    wait: (id: string, waitMs: number) =>
      new Promise<JobOutcome>((finish) => waits.set(id, { waitMs, finish })),
    add: (_target: ResolvedVersion, id: string, data: PredictionJobData) => {
      if (addFails) return Promise.reject(addFails);
      const wait = waits.get(id);
      assert.ok(wait, 'the coalescer listens before it adds');
      jobs.push({ id, data, ...wait });
      return Promise.resolve();
    },
  };
  return { jobs, queue: queue as unknown as PredictionQueue };
}

/** A coalescer over a memory queue; `hold` is off unless a test asks for it. */
function coalescer(maxTexts = 64, addFails?: Error, hold = { workers: 1, waitMs: 0 }) {
  const config = {
    COALESCE_MAX_TEXTS: maxTexts,
    COALESCE_WAIT_MS: hold.waitMs,
    SYNC_TIMEOUT_MS: 30_000,
  } as ApiConfig;
  const { jobs, queue } = memoryQueue(addFails);
  const fleet = { live: () => Promise.resolve({ workers: hold.workers, textsPerSecond: 0 }) };
  return { coalescer: new RequestCoalescer(config, queue, fleet as unknown as ModelCatalog), jobs };
}

const target = (version = '1'): ResolvedVersion => ({
  record: { name: 'news', version } as VersionRecord,
});

/** What a worker answers for a job: one output per text, naming the text. */
function completed(data: PredictionJobData, extra: Partial<PredictionJobResult> = {}): JobOutcome {
  const value: PredictionJobResult = {
    output: data.texts.map((text) => ({ text })),
    inferenceMs: 1,
    batchSize: data.texts.length,
    worker: 'w',
    ...extra,
  };
  return { status: 'completed', value };
}

const outputsOf = (answer: SyncAnswer) =>
  answer.outcome.status === 'completed'
    ? (answer.outcome.value as PredictionJobResult).output
    : answer.outcome;

/** Lets the turn in which requests arrived end, so their gathering is sent. */
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

const ask = (texts: string[], more: Omit<SyncRequest, 'texts'> = {}) => ({ texts, ...more });

describe('RequestCoalescer', () => {
  afterEach(() => mock.timers.reset());

  it('makes the requests of one turn one job, and answers each with its own texts only', async () => {
    const { coalescer: c, jobs } = coalescer();
    const answers = [
      c.answer(target(), ask(['a', 'b'], { requestId: 'r1' })),
      c.answer(target(), ask(['c'], { requestId: 'r2' })),
      c.answer(target(), ask(['d', 'e', 'f'], { requestId: 'r3' })),
    ];
    await nextTurn();
    assert.equal(jobs.length, 1);
    const [job] = jobs;
    assert.deepEqual(job.data.texts, ['a', 'b', 'c', 'd', 'e', 'f']);
    assert.deepEqual(
      job.data.parts?.map((p) => [p.count, p.requestId]),
      [
        [2, 'r1'],
        [1, 'r2'],
        [3, 'r3'],
      ],
    );
    assert.equal(job.data.requestId, 'r1');
    assert.equal(job.data.replyTo, 'api-1');
    job.finish(completed(job.data));
    const got = await Promise.all(answers);
    assert.deepEqual(got.map(outputsOf), [
      [{ text: 'a' }, { text: 'b' }],
      [{ text: 'c' }],
      [{ text: 'd' }, { text: 'e' }, { text: 'f' }],
    ]);
  });

  it("gives each request of a shared job an id of its own under the job's, never the job's", async () => {
    const { coalescer: c, jobs } = coalescer();
    const answers = [c.answer(target(), ask(['a'])), c.answer(target(), ask(['b']))];
    await nextTurn();
    jobs[0].finish(completed(jobs[0].data));
    const ids = (await Promise.all(answers)).map((a) => a.id);
    assert.notEqual(ids[0], ids[1]);
    for (const id of ids) {
      assert.notEqual(id, jobs[0].id);
      assert.equal(PredictionStore.versionOf(id)?.jobId, jobs[0].id);
    }
  });

  it('sends a lone request as a job of its own, answered under the job id with the whole outcome', async () => {
    const { coalescer: c, jobs } = coalescer();
    const answer = c.answer(target(), ask(['a', 'b']));
    await nextTurn();
    assert.equal(jobs.length, 1);
    assert.equal(jobs[0].data.parts, undefined);
    const outcome = completed(jobs[0].data);
    jobs[0].finish(outcome);
    assert.deepEqual(await answer, { id: jobs[0].id, outcome });
  });

  it('keeps versions, probability flags and turns apart', async () => {
    const { coalescer: c, jobs } = coalescer();
    void c.answer(target('1'), ask(['a']));
    void c.answer(target('2'), ask(['b']));
    void c.answer(target('1'), ask(['c'], { probabilities: true }));
    void c.answer(target('1'), ask(['d']));
    await nextTurn();
    void c.answer(target('1'), ask(['e']));
    await nextTurn();
    const sent = jobs.map((j) => [j.data.version, j.data.probabilities === true, j.data.texts]);
    assert.deepEqual(sent, [
      ['1', false, ['a', 'd']],
      ['2', false, ['b']],
      ['1', true, ['c']],
      ['1', false, ['e']],
    ]);
  });

  it('puts at most COALESCE_MAX_TEXTS texts in a job; a larger request goes alone', async () => {
    const { coalescer: c, jobs } = coalescer(4);
    void c.answer(target(), ask(['a', 'b', 'c']));
    void c.answer(target(), ask(['d']));
    void c.answer(target(), ask(['e', 'f']));
    void c.answer(target(), ask(['g', 'h', 'i', 'j', 'k']));
    void c.answer(target(), ask(['l']));
    await nextTurn();
    assert.deepEqual(
      jobs.map((j) => j.data.texts.join('')),
      ['abcd', 'ef', 'ghijk', 'l'],
    );
  });

  it('answers a part the worker failed with its reason, and the others with their shares', async () => {
    const { coalescer: c, jobs } = coalescer();
    const answers = [c.answer(target(), ask(['a', 'b'])), c.answer(target(), ask(['c']))];
    await nextTurn();
    const [job] = jobs;
    job.finish(completed(job.data, { partErrors: [null, 'text 0 is too long'], cached: [1, 2] }));
    const [first, second] = await Promise.all(answers);
    assert.equal(first.outcome.status, 'completed');
    const share = (first.outcome as { value: PredictionJobResult }).value;
    assert.deepEqual(share.output, [{ text: 'a' }, { text: 'b' }]);
    // Indices of cached texts count from the part's own first text.
    assert.deepEqual(share.cached, [1]);
    assert.deepEqual(second.outcome, { status: 'failed', reason: 'text 0 is too long' });
  });

  it('answers every request of a job that failed or timed out with that outcome', async () => {
    for (const outcome of [
      { status: 'failed', reason: 'inference failed' },
      { status: 'timeout' },
    ] as JobOutcome[]) {
      const { coalescer: c, jobs } = coalescer();
      const answers = [c.answer(target(), ask(['a'])), c.answer(target(), ask(['b']))];
      await nextTurn();
      jobs[0].finish(outcome);
      assert.deepEqual(
        (await Promise.all(answers)).map((a) => a.outcome),
        [outcome, outcome],
      );
    }
  });

  it('fails every request of a job that could not be queued with the error, as its own call would', async () => {
    const down = new Error('Redis is unavailable');
    const { coalescer: c } = coalescer(64, down);
    const answers = [c.answer(target(), ask(['a'])), c.answer(target(), ask(['b']))];
    for (const answer of answers) await assert.rejects(answer, down);
  });

  it('answers a request at its own deadline with a timeout, and the others when the job ends', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    const { coalescer: c, jobs } = coalescer();
    const seen: { early?: SyncAnswer } = {};
    void c.answer(target(), ask(['a'], { deadline: 1_000_500 })).then((a) => (seen.early = a));
    const late = c.answer(target(), ask(['b'], { deadline: 1_002_000 }));
    await nextTurn();
    const [job] = jobs;
    // The job runs until the latest deadline; the wait for it ends there too.
    assert.equal(job.data.deadline, 1_002_000);
    assert.equal(job.waitMs, 2000);
    mock.timers.tick(499);
    await nextTurn();
    assert.equal(seen.early === undefined, true, 'not answered before its deadline');
    mock.timers.tick(1);
    await nextTurn();
    const early = seen.early;
    assert.equal(early?.outcome.status, 'timeout');
    assert.equal(PredictionStore.versionOf(early.id)?.jobId, job.id);
    job.finish(completed(job.data));
    assert.deepEqual(outputsOf(await late), [{ text: 'b' }]);
  });

  it('gives a job no deadline when one of its requests has none', async () => {
    const { coalescer: c, jobs } = coalescer();
    void c.answer(target(), ask(['a'], { deadline: Date.now() + 60_000 }));
    void c.answer(target(), ask(['b']));
    await nextTurn();
    assert.equal(jobs[0].data.deadline, undefined);
    assert.equal(jobs[0].waitMs, 30_000);
    assert.deepEqual(
      jobs[0].data.parts?.map((p) => p.deadline === undefined),
      [false, true],
    );
    // Its answer clears the deadline's timer, which would hold the test process for a minute.
    jobs[0].finish(completed(jobs[0].data));
  });

  describe('while the version is busy', () => {
    const holding = { workers: 1, waitMs: 25 };
    /** Sends one request a turn, each a job of its own while the version has room. */
    async function fill(c: RequestCoalescer, count: number): Promise<void> {
      for (let k = 0; k < count; k++) {
        void c.answer(target(), ask([`busy${k}`]));
        await nextTurn();
      }
    }

    it('holds requests once each live worker has a job unanswered, and sends them as one when one is answered', async () => {
      const { coalescer: c, jobs } = coalescer(64, undefined, holding);
      await fill(c, 1);
      assert.equal(jobs.length, 1);
      const held = [c.answer(target(), ask(['c'])), c.answer(target(), ask(['d']))];
      await nextTurn();
      void c.answer(target(), ask(['e']));
      await nextTurn();
      await nextTurn();
      assert.equal(jobs.length, 1, 'held while the one worker has a job');
      jobs[0].finish(completed(jobs[0].data));
      await nextTurn();
      assert.equal(jobs.length, 2);
      assert.deepEqual(jobs[1].data.texts, ['c', 'd', 'e']);
      jobs[1].finish(completed(jobs[1].data));
      assert.deepEqual((await Promise.all(held)).map(outputsOf), [
        [{ text: 'c' }],
        [{ text: 'd' }],
      ]);
    });

    it('sends each turn its own job when holding is off (COALESCE_WAIT_MS=0): the control', async () => {
      const { coalescer: c, jobs } = coalescer(64, undefined, { workers: 1, waitMs: 0 });
      await fill(c, 1);
      void c.answer(target(), ask(['c']));
      await nextTurn();
      void c.answer(target(), ask(['e']));
      await nextTurn();
      assert.deepEqual(
        jobs.map((j) => j.data.texts),
        [['busy0'], ['c'], ['e']],
      );
    });

    it('lets a job for each live worker be unanswered before it holds', async () => {
      const { coalescer: c, jobs } = coalescer(64, undefined, { workers: 3, waitMs: 25 });
      await fill(c, 5);
      await nextTurn();
      assert.equal(jobs.length, 3);
    });

    it("holds no longer than COALESCE_WAIT_MS, nor past a held request's deadline", async () => {
      mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
      const { coalescer: c, jobs } = coalescer(64, undefined, holding);
      await fill(c, 1);
      void c.answer(target(), ask(['c']));
      await nextTurn();
      await nextTurn();
      mock.timers.tick(24);
      await nextTurn();
      assert.equal(jobs.length, 1);
      mock.timers.tick(1);
      await nextTurn();
      assert.equal(jobs.length, 2, 'sent at COALESCE_WAIT_MS');
      assert.deepEqual(jobs[1].data.texts, ['c']);

      void c.answer(target(), ask(['d']));
      await nextTurn();
      await nextTurn();
      const early = c.answer(target(), ask(['e'], { deadline: 1_000_025 + 10 }));
      mock.timers.tick(9);
      await nextTurn();
      assert.equal(jobs.length, 2);
      mock.timers.tick(1);
      await nextTurn();
      assert.equal(jobs.length, 3, 'sent at the deadline of a request that joined the held ones');
      assert.deepEqual(jobs[2].data.texts, ['d', 'e']);
      assert.equal((await early).outcome.status, 'timeout');
    });
  });
});
