import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Stack } from '../support/stack';

describe('what callers read is consistent', () => {
  let stack: Stack;

  before(async () => {
    stack = await Stack.start();
  });

  after(async () => {
    await stack?.stop();
  });

  it("a prediction's status and output always agree, however quickly it is read", async () => {
    const views = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        stack.request(
          'POST',
          '/v1/predictions',
          { model: 'ag-news-bert', input: { data: [`Quick news item number ${i}`] } },
          { prefer: 'wait=5' },
        ),
      ),
    );
    const polls = await Promise.all(views.map((v) => stack.request('GET', v.body.urls.get)));
    let succeeded = 0;
    for (const { body } of [...views, ...polls]) {
      if (body.status !== 'succeeded') continue;
      succeeded++;
      assert.ok(Array.isArray(body.output) && body.output.length === 1, JSON.stringify(body));
      assert.ok(body.completed_at, JSON.stringify(body));
    }
    // Control: the invariant was checked on real successes, not on none.
    assert.ok(succeeded >= 60, `only ${succeeded} successes read`);
  });

  it('refuses a passthrough column named like a result field, naming it (400)', async () => {
    for (const column of ['label', 'line', 'id', 'probability']) {
      const response = await stack.request(
        'POST',
        `/v1/batches?model=ag-news-bert&text=text&passthrough=${column},source`,
        `text,${column},source\nOil prices surge,x,y\n`,
        { 'content-type': 'text/csv' },
      );
      assert.equal(response.status, 400, column);
      assert.match(response.body.detail ?? JSON.stringify(response.body), new RegExp(column));
    }
    const control = await stack.request(
      'POST',
      '/v1/batches?model=ag-news-bert&text=text&passthrough=source',
      'text,source\nOil prices surge,y\n',
      { 'content-type': 'text/csv' },
    );
    assert.equal(control.status, 202, JSON.stringify(control.body));
  });
});
