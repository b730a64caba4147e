import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Prediction } from '@app/handler';
import { loadModelPackage, packingLimits } from '@app/handler/package';
import { InferenceClient } from '../../apps/worker/src/runtime/inference-client';
import { DEMO_MODEL } from '../support/paths';
import { agNewsSample } from '../support/texts';

describe('inference thread with bulk and online groups (demo model)', () => {
  let client: InferenceClient;
  const texts = agNewsSample(300);

  before(async () => {
    const { manifest } = await loadModelPackage(DEMO_MODEL);
    client = await InferenceClient.start(
      {
        packagePath: DEMO_MODEL,
        device: 'cpu',
        intraOpNumThreads: 1,
        maxArchiveBytes: 1024 ** 3,
        maxArchiveEntries: 1000,
        allowPackageCode: false,
        batching: packingLimits(manifest.batching),
        // No pass budget: while online work is about, a bulk pass holds one text.
        bulkPassMs: 0,
      },
      () => undefined,
    );
  });
  after(() => client.close());

  it('runs a bulk group in passes as large as the limits allow while no online group came', async () => {
    const alone = await client.classify(texts, { bulk: true });
    assert.ok(alone.batches.length < texts.length / 2, `${alone.batches.length} passes`);
  });

  it('answers an online group posted behind a bulk group before the bulk group, and cuts the bulk passes', async () => {
    const alone = await client.classify(texts, { bulk: true });
    let bulkDone = false;
    const bulk = client.classify(texts, { bulk: true }).finally(() => (bulkDone = true));
    const online = await client.classify([texts[7]]);
    assert.equal(bulkDone, false, 'the online answer came first');
    const busy = await bulk;
    assert.equal(busy.batches[0].size, 1, 'a bulk pass after the online group holds one text');
    assert.ok(busy.batches.length > alone.batches.length);
    for (const [i, result] of [...busy.results.entries(), [7, online.results[0]] as const]) {
      const { label, probability } = result as Prediction;
      const expected = alone.results[i] as Prediction;
      assert.equal(label, expected.label, `text ${i}`);
      // Padding to another length moves the float sums a little.
      assert.ok(Math.abs(probability - expected.probability) < 1e-5, `text ${i}`);
    }
  });
});
