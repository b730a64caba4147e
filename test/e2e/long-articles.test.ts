import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { classifyTexts, openModel, type Handler, type Prediction } from '@app/handler';
import { demoModelStore } from '../support/model-store';
import { FIXTURES } from '../support/paths';
import { Stack } from '../support/stack';

const MODEL = 'ag-news-bert';
/** A business news article of about 490 tokens: five windows of the demo model's 128. */
const ARTICLE = readFileSync(join(FIXTURES, 'long-article', 'article.txt'), 'utf8');
const SHORT = 'Yankees beat the Red Sox 5-3.';
/** The article with a change in its last window only. */
const EDITED = ARTICLE.replace('Atlanta', 'Chicago');

describe('long articles read whole through the API and a worker', () => {
  let stack: Stack;
  let store: string;
  /** What the handler answers in this process, windows on (v1) and off (v2, the control). */
  const expected: Record<string, Prediction[]> = {};

  before(async () => {
    store = demoModelStore([
      { version: '1', manifest: { windows: { overlap: 32, max_windows: 8 } } },
      { version: '2', manifest: { windows: undefined } },
    ]);
    for (const version of ['1', '2']) {
      const { handler } = await openModel(join(store, `${MODEL}-v${version}`), { device: 'cpu' });
      const limits = { maxBatchTokens: 8192, maxBatchSize: 64 };
      expected[version] = (
        await classifyTexts(handler as Handler<Prediction>, [ARTICLE, SHORT, EDITED], limits)
      ).results;
      await handler.dispose();
    }
    stack = await Stack.start({
      modelStore: store,
      env: { MODELS: `${MODEL}-v1,${MODEL}-v2` },
    });
    for (const version of ['1', '2']) await stack.versionServed(MODEL, version);
  });
  after(async () => {
    await stack?.stop();
    if (store) rmSync(store, { recursive: true, force: true });
  });

  it('answers a long article from all its windows, counted as rows of the passes', async () => {
    const answers: Record<string, { probability: number; provenance: { batch_size: number } }[]> =
      {};
    for (const version of ['1', '2']) {
      const answer = await stack.request(
        'POST',
        `/predictions/${MODEL}/${version}?provenance=true`,
        { data: [ARTICLE, SHORT] },
      );
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      answers[version] = answer.body;
      for (const [i, prediction] of expected[version].slice(0, 2).entries()) {
        assert.equal(answer.body[i].label, prediction.label, `v${version} text ${i}`);
        assert.ok(Math.abs(answer.body[i].probability - prediction.probability) < 1e-4);
      }
    }
    // Control: truncated, the article is another answer, and one row of a pass.
    assert.ok(Math.abs(answers['1'][0].probability - answers['2'][0].probability) > 1e-4);
    assert.equal(answers['1'][1].probability, answers['2'][1].probability);
    assert.equal(answers['1'][0].provenance.batch_size, 5, 'the five windows ran as five rows');
    assert.ok(answers['2'][0].provenance.batch_size <= 2);
  });

  it('scores a long article in a bulk batch as it answers it online', async () => {
    const dataset = [ARTICLE, SHORT, EDITED]
      .map((text, i) => JSON.stringify({ id: `r${i}`, text }))
      .join('\n');
    const created = await stack.request(
      'POST',
      `/v1/batches?model=${MODEL}&version=1&text=text&id=id`,
      `${dataset}\n`,
      { 'content-type': 'application/x-ndjson' },
    );
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const done = await stack.batchFinished(created.body.id);
    assert.equal(done.status, 'succeeded');
    assert.equal(done.counts.succeeded, 3);
    const rows = await stack.jsonlRows(done.urls.results);
    const byId = Object.fromEntries(rows.map((r) => [r.id, r]));
    for (const [i, id] of ['r0', 'r1', 'r2'].entries()) {
      assert.equal(byId[id].label, expected['1'][i].label);
      assert.ok(Math.abs(byId[id].probability - expected['1'][i].probability) < 1e-4);
    }
    // Control of the edit: read whole, the article and its edited copy differ; truncated, not.
    assert.notEqual(expected['1'][2].probability, expected['1'][0].probability);
    assert.equal(expected['2'][2].probability, expected['2'][0].probability);
  });
});
