import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { joinProvenance, splitOutcome, type GroupOrigin } from './split-outcome';

const origin: GroupOrigin = {
  model: 'm',
  version: '1',
  package_sha256: 'ab'.repeat(32),
  provider: 'cpu',
  precision: 'fp32',
  worker: 'w1',
  batchId: 'group-1',
};
const pass = (size: number, inferenceMs: number) => ({
  size,
  realTokens: 0,
  paddedTokens: 0,
  startedAt: 0,
  inferenceMs,
});

describe('splitOutcome', () => {
  it('gives each job the forward passes that held its texts, and its provenance', () => {
    const [first, second] = splitOutcome(
      {
        results: ['a', 'b', 'c'],
        batches: [pass(2, 10), pass(1, 5)],
        batchOf: [0, 0, 1],
        preprocessMs: 0,
      },
      [
        { texts: ['x', 'y'], queueWaitMs: 7 },
        { texts: ['z'], queueWaitMs: 3 },
      ],
      origin,
    );
    assert.deepEqual(first.output, ['a', 'b']);
    assert.deepEqual(first.provenance, {
      model: 'm',
      version: '1',
      package_sha256: origin.package_sha256,
      provider: 'cpu',
      precision: 'fp32',
      worker: 'w1',
      batch_id: 'group-1',
      batch_size: 2,
      queue_wait_ms: 7,
      inference_ms: 10,
      cached_texts: 0,
    });
    assert.equal(first.cached, undefined);
    assert.equal(second.provenance?.batch_size, 1);
    assert.equal(second.provenance?.inference_ms, 5);
  });

  it('counts texts the cache answered towards no forward pass', () => {
    const [partly, wholly] = splitOutcome(
      {
        results: ['a', 'b', 'c'],
        batches: [pass(1, 4)],
        batchOf: [-1, 0, -1],
        preprocessMs: 0,
        cached: [0, 2],
      },
      [{ texts: ['x', 'y'] }, { texts: ['z'] }],
      origin,
    );
    assert.deepEqual(partly.cached, [0]);
    assert.equal(partly.provenance?.cached_texts, 1);
    assert.equal(partly.provenance?.batch_id, 'group-1');
    assert.deepEqual(wholly.cached, [0]);
    assert.equal(wholly.provenance?.batch_id, null);
    assert.equal(wholly.provenance?.batch_size, 0);
    assert.equal(wholly.provenance?.inference_ms, 0);
    assert.deepEqual(wholly.output, ['c']);
  });
});

describe('joinProvenance', () => {
  it('joins the parts of a job: largest pass and time, cached texts at their place in the job', () => {
    const [a, b] = splitOutcome(
      {
        results: ['a', 'b', 'c'],
        batches: [pass(2, 6)],
        batchOf: [0, -1, 0],
        preprocessMs: 0,
        cached: [1],
      },
      [{ texts: ['x', 'y'] }, { texts: ['z'] }],
      origin,
    );
    const joined = joinProvenance([b, undefined, a], [1, 4, 2]);
    assert.deepEqual(joined.cached, [6]);
    assert.equal(joined.provenance?.cached_texts, 1);
    assert.equal(joined.provenance?.batch_size, 2);
    assert.equal(joined.provenance?.batch_id, 'group-1');
    assert.deepEqual(joinProvenance([undefined], [1]), {});
  });
});
