import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { readDataset, type ColumnMapping, type DatasetRow, type RowError } from './dataset-reader';

const LABELS = ['World', 'Sports', 'Business', 'Sci/Tech'];
const LIMITS = { maxRecordBytes: 4096, maxColumns: 16 };

/** Reads JSON lines, one record per element, into its rows and its row errors. */
async function readJsonl(records: unknown[], mapping: ColumnMapping) {
  const input = Readable.from([records.map((r) => JSON.stringify(r)).join('\n')]);
  const rows: DatasetRow[] = [];
  const errors: RowError[] = [];
  for await (const slice of readDataset(input, 'jsonl', mapping, LABELS, LIMITS)) {
    for (const record of slice) {
      if ('error' in record) errors.push(record);
      else rows.push(record);
    }
  }
  return { rows, errors };
}

describe('readDataset on JSON lines', () => {
  it('reads numbers and booleans as written', async () => {
    const { rows, errors } = await readJsonl([{ uid: 7, text: 42, flag: true, gold: 1 }], {
      id: 'uid',
      text: ['text'],
      passthrough: ['flag'],
      label: 'gold',
    });
    assert.deepEqual(errors, []);
    assert.deepEqual(rows, [
      { line: 1, id: '7', text: '42', gold: 1, passthrough: { flag: 'true' } },
    ]);
  });

  it('refuses a text that is an object or a list, naming the column, and reads the rest', async () => {
    const { rows, errors } = await readJsonl(
      [
        { title: { nested: 'a' }, body: 'b' },
        { title: ['x', 'y'], body: 'b' },
        { title: 'fine', body: 'b' },
      ],
      { text: ['title', 'body'] },
    );
    assert.deepEqual(errors, [
      { line: 1, id: '1', error: 'text column(s) holding an object or a list: title' },
      { line: 2, id: '2', error: 'text column(s) holding an object or a list: title' },
    ]);
    assert.deepEqual(
      rows.map((r) => r.text),
      ['fine b'],
    );
  });

  it('keeps an object id, label or passthrough readable as its JSON, never "[object Object]"', async () => {
    const { rows, errors } = await readJsonl(
      [
        { uid: { a: 1 }, text: 'one', extra: [1, 2], gold: 'world' },
        { uid: 'u2', text: 'two', gold: { name: 'Sports' } },
      ],
      { id: 'uid', text: ['text'], passthrough: ['extra'], label: 'gold' },
    );
    assert.deepEqual(
      rows.map((r) => [r.id, r.passthrough, r.gold]),
      [['{"a":1}', { extra: '[1,2]' }, 0]],
    );
    assert.deepEqual(errors, [{ line: 2, id: 'u2', error: 'unknown label "{"name":"Sports"}"' }]);
  });
});
