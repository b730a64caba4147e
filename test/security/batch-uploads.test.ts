import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Stack } from '../support/stack';

describe('batch uploads', () => {
  let stack: Stack;

  before(async () => {
    stack = await Stack.start();
  });

  after(async () => {
    await stack?.stop();
  });

  const upload = (base: string, query: string, body: Buffer | string, gzip = false) =>
    fetch(`${base}/v1/batches?model=ag-news-bert&text=text${query}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-ndjson',
        ...(gzip ? { 'content-encoding': 'gzip' } : {}),
      },
      body,
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as any })); // eslint-disable-line @typescript-eslint/no-explicit-any

  describe('result rows', () => {
    it('refuses a passthrough column named as any field a scored row carries (400), provenance included', async () => {
      // Rows with every optional field: a gold label, probabilities, provenance.
      const dataset = ['Oil prices surge', 'Team wins the cup']
        .map((text) => JSON.stringify({ text, gold: 'Business', source: 'wire' }) + '\n')
        .join('');
      const created = await upload(
        stack.apiUrl,
        '&label=gold&probabilities=true&passthrough=source',
        dataset,
      );
      assert.equal(created.status, 202, JSON.stringify(created.body));
      const done = await stack.batchFinished(created.body.id);
      const [row] = await stack.jsonlRows(done.urls.results);
      const csv = (await stack.request('GET', `${done.urls.results}?format=csv&provenance=true`))
        .body as string;
      const columns = [
        ...Object.keys(row).filter((k) => k !== 'source'),
        ...csv
          .split('\n')[0]
          .split(',')
          .filter((c) => c.startsWith('provenance_')),
      ];
      // Control: the rows carry what the names are refused for, the passthrough column too.
      assert.ok(
        columns.includes('provenance') && columns.includes('provenance_model'),
        columns.join(),
      );
      assert.equal(row.provenance.model, 'ag-news-bert');
      assert.equal(row.source, 'wire');
      for (const column of columns) {
        const response = await upload(
          stack.apiUrl,
          `&passthrough=${column}`,
          JSON.stringify({ text: 'Oil prices surge', [column]: 'forged' }) + '\n',
        );
        assert.equal(response.status, 400, `${column}: ${JSON.stringify(response.body)}`);
        assert.ok(JSON.stringify(response.body).includes(`cannot pass through ${column}:`), column);
      }
    });
  });
});
