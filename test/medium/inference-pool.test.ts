import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Prediction } from '@app/handler';
import { loadModelPackage, packingLimits } from '@app/handler/package';
import {
  InferenceThreadExited,
  type GroupOutcome,
} from '../../apps/worker/src/runtime/inference-client';
import { InferencePool } from '../../apps/worker/src/runtime/inference-pool';
import type { InferenceThreadOptions } from '../../apps/worker/src/runtime/protocol';
import { fragileStore } from '../support/fragile-package';
import { DEMO_MODEL } from '../support/paths';
import { eventually } from '../support/processes';
import { agNewsSample } from '../support/texts';

const threadOptions = async (packagePath: string): Promise<InferenceThreadOptions> => ({
  packagePath,
  device: 'cpu',
  intraOpNumThreads: 1,
  maxArchiveBytes: 1024 ** 3,
  maxArchiveEntries: 1000,
  allowPackageCode: true,
  batching: packingLimits(
    (await loadModelPackage(packagePath, { allowPackageCode: true })).manifest.batching,
  ),
  bulkPassMs: 0,
});

const labels = (outcome: GroupOutcome) => outcome.results.map((r) => (r as Prediction).label);

describe('inference threads of one version (demo model, two threads)', () => {
  let pool: InferencePool;
  const texts = agNewsSample(120);
  const groups = [0, 1, 2, 3].map((k) => texts.slice(k * 30, (k + 1) * 30));

  before(async () => {
    pool = await InferencePool.start(2, await threadOptions(DEMO_MODEL), () => undefined);
  });
  after(() => pool.close());

  it('answers bulk groups queued ahead and online groups between them, each in input order, on both threads', async () => {
    const reference = await pool.classify(texts, { bulk: true });
    const before = [...pool.answered];
    const bulk = groups.map((group) => pool.classify(group, { bulk: true }));
    const online = [pool.classify([texts[3], texts[95]]), pool.classify([texts[61]])];
    const answers = await Promise.all([...bulk, ...online]);
    answers.slice(0, 4).forEach((outcome, k) => {
      assert.deepEqual(
        labels(outcome),
        labels(reference).slice(k * 30, (k + 1) * 30),
        `group ${k}`,
      );
    });
    const expected = labels(reference);
    assert.deepEqual(labels(answers[4]), [expected[3], expected[95]]);
    assert.deepEqual(labels(answers[5]), [expected[61]]);
    const used = pool.answered.map((n, k) => n - before[k]);
    assert.ok(
      used.every((n) => n > 0),
      `groups per thread: ${used.join(', ')}`,
    );
  });

  it('answers the probability vectors only when asked', async () => {
    const plain = await pool.classify(groups[0], { bulk: true });
    const whole = await pool.classify(groups[0], { bulk: true, probabilities: true });
    for (const result of plain.results)
      assert.equal((result as Prediction).probabilities, undefined);
    for (const result of whole.results) {
      const { probabilities, probability, label } = result as Prediction;
      assert.equal(probabilities?.length, 4);
      assert.equal(probabilities[label], probability);
    }
    assert.deepEqual(labels(plain), labels(whole));
  });
});

describe('inference threads when one dies with groups queued ahead', () => {
  let fragile: ReturnType<typeof fragileStore>;
  before(() => (fragile = fragileStore()));
  after(() => fragile.remove());

  it('tells of the death once and fails every group in flight, queued ones included, as the thread ending', async () => {
    const deaths: Error[] = [];
    const options = await threadOptions(`${fragile.store}/fragile`);
    const pool = await InferencePool.start(
      2,
      options,
      () => undefined,
      (e) => deaths.push(e),
    );
    try {
      fragile.on('block'); // every pass waits while the file exists
      const groups = [0, 1, 2, 3].map((k) =>
        pool.classify([`sports ${k}`, `business ${k}`], { bulk: true }).then(
          () => 'answered',
          (error: Error) => error,
        ),
      );
      // Each group is tokenized as it arrives (queued ones too): all four are in the threads.
      await eventually('every group to reach a thread', () =>
        fragile.seen().filter((t) => t.startsWith('sports ')).length === 4 ? true : undefined,
      );
      fragile.on('die');
      fragile.off('block');
      const outcomes = await Promise.all(groups);
      assert.equal(deaths.length, 1, 'the death is told once');
      assert.ok(deaths[0] instanceof InferenceThreadExited);
      const ended = outcomes.filter((o) => o instanceof InferenceThreadExited);
      assert.ok(ended.length >= 2, `the dead thread's groups end: ${outcomes.join(', ')}`);
      // The other thread may answer its groups before it is ended, or be ended first.
      assert.ok(
        outcomes.every((o) => o === 'answered' || o instanceof Error),
        outcomes.join(', '),
      );
      await assert.rejects(pool.classify(['sports']), InferenceThreadExited);
    } finally {
      fragile.off('block');
      await pool.close();
    }
  });
});
