import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Problem } from '../core/problem';
import type { DatasetRecord, DatasetRow, RowError } from './dataset-reader';
import { chunkByLength } from './batch-input';
import {
  FIRST_ERRORS,
  WRITE_CHARS,
  rowChars,
  stageDataset,
  type StagingSink,
} from './dataset-staging';

/** A sink that keeps what it is given, and how many input slices had been read by then. */
function recordingSink(source: { slicesRead: number }) {
  const seen = {
    chunks: [] as { first: number; rows: DatasetRow[]; slicesRead: number }[],
    errors: [] as RowError[][],
  };
  const sink: StagingSink = {
    chunks: (chunks, first) => {
      chunks.forEach((rows, k) =>
        seen.chunks.push({ first: first + k, rows, slicesRead: source.slicesRead }),
      );
      return Promise.resolve();
    },
    errors: (errors) => (seen.errors.push(errors), Promise.resolve()),
  };
  return { seen, sink };
}

/** `count` records in slices of `perSlice`; every `errorEvery`-th one is a row error. */
function records(count: number, perSlice: number, errorEvery = Infinity) {
  const source = { slicesRead: 0 };
  async function* generate(): AsyncGenerator<DatasetRecord[]> {
    for (let start = 1; start <= count; start += perSlice) {
      source.slicesRead++;
      yield Array.from({ length: Math.min(perSlice, count - start + 1) }, (_, i) => {
        const line = start + i;
        return line % errorEvery === 0
          ? { line, error: 'empty text' }
          : { line, id: String(line), text: 'x'.repeat((line * 7919) % 97) + 'y' };
      });
    }
  }
  return { source, input: generate() };
}

describe('stageDataset', () => {
  it('hands on every row once, in numbered chunks of at most the chunk size', async () => {
    const { source, input } = records(5000, 100);
    const { seen, sink } = recordingSink(source);
    const staged = await stageDataset(input, sink, { chunkSize: 32, maxRows: 10_000 });
    assert.equal(staged.rows, 5000);
    assert.equal(staged.chunks, seen.chunks.length);
    assert.deepEqual(
      seen.chunks.map((c) => c.first),
      seen.chunks.map((_, k) => k),
    );
    assert.ok(seen.chunks.every((c) => c.rows.length > 0 && c.rows.length <= 32));
    const lines = seen.chunks.flatMap((c) => c.rows.map((r) => r.line)).sort((a, b) => a - b);
    assert.deepEqual(
      lines,
      Array.from({ length: 5000 }, (_, i) => i + 1),
    );
  });

  it('hands chunks on while the input is still being read (a window at a time)', async () => {
    const { source, input } = records(5000, 100);
    const { seen, sink } = recordingSink(source);
    await stageDataset(input, sink, { chunkSize: 32, maxRows: 10_000 });
    // 16 chunks of 32 rows make a window: the first chunks leave after about 6 of 50 slices.
    assert.ok(seen.chunks[0].slicesRead < 10, `first chunks after ${seen.chunks[0].slicesRead}`);
    // Within a window, rows are sorted by text length before they are cut.
    const [first, second] = seen.chunks;
    const longest = Math.max(...first.rows.map((r) => r.text.length));
    assert.ok(longest <= Math.min(...second.rows.map((r) => r.text.length)));
  });

  it('hands on long texts in chunks and writes of at most WRITE_CHARS characters', async () => {
    // 300 rows of 20,000 to 80,000 characters (12 MiB), a passthrough column, and one row
    // larger than a write on its own.
    const rows: DatasetRow[] = Array.from({ length: 300 }, (_, i) => ({
      line: i + 1,
      id: `r${i + 1}`,
      passthrough: { note: 'n'.repeat(1000) },
      text: 'x'.repeat(i === 150 ? WRITE_CHARS + 10 : 20_000 + ((i * 7919) % 60_000)),
    }));
    async function* input(): AsyncGenerator<DatasetRecord[]> {
      for (let start = 0; start < rows.length; start += 50) yield rows.slice(start, start + 50);
    }
    const writes: { first: number; chunks: DatasetRow[][] }[] = [];
    const sink: StagingSink = {
      chunks: (chunks, first) => (writes.push({ first, chunks }), Promise.resolve()),
      errors: () => Promise.resolve(),
    };
    const staged = await stageDataset(input(), sink, { chunkSize: 128, maxRows: 1000 });
    const weigh = (chunk: DatasetRow[]) => chunk.reduce((sum, row) => sum + rowChars(row), 0);
    for (const write of writes) {
      const chars = write.chunks.reduce((sum, chunk) => sum + weigh(chunk), 0);
      const oversized = write.chunks.length === 1 && write.chunks[0].length === 1;
      assert.ok(chars <= WRITE_CHARS || oversized, `a write of ${chars} characters`);
    }
    const chunks = writes.flatMap((w) => w.chunks);
    assert.equal(staged.chunks, chunks.length);
    assert.deepEqual(
      writes.map((w) => w.first),
      writes.map((_, k) => writes.slice(0, k).reduce((n, w) => n + w.chunks.length, 0)),
    );
    assert.ok(chunks.some((chunk) => chunk.length === 1 && chunk[0].line === 151));
    assert.deepEqual(
      chunks
        .flat()
        .map((r) => r.line)
        .sort((a, b) => a - b),
      rows.map((r) => r.line),
    );
    // Control: cut by row count alone, the same rows make chunks far larger than a write.
    assert.ok(chunkByLength(rows, 128).some((chunk) => weigh(chunk) > 4 * WRITE_CHARS));
  });

  it('counts every row error, hands them on in slices, and keeps the first ones in line order', async () => {
    const { source, input } = records(9000, 500, 3);
    const { seen, sink } = recordingSink(source);
    const staged = await stageDataset(input, sink, { chunkSize: 32, maxRows: 10_000 });
    assert.equal(staged.invalid, 3000);
    assert.equal(staged.rows, 6000);
    assert.ok(seen.errors.length > 1, 'errors left in more than one slice');
    assert.ok(seen.errors.every((slice) => slice.length <= 1500));
    assert.equal(seen.errors.flat().length, 3000);
    assert.equal(staged.firstErrors.length, FIRST_ERRORS);
    assert.deepEqual(
      staged.firstErrors.map((e) => e.line),
      Array.from({ length: FIRST_ERRORS }, (_, i) => 3 * (i + 1)),
    );
  });

  it('refuses the record past the row limit with a 413 naming it, and reads no further', async () => {
    const { source, input } = records(100_000, 100, 2);
    const { sink } = recordingSink(source);
    await assert.rejects(
      stageDataset(input, sink, { chunkSize: 32, maxRows: 1000 }),
      (error: unknown) => {
        assert.ok(error instanceof Problem);
        assert.equal(error.getStatus(), 413);
        assert.equal(error.title, 'Too many rows');
        assert.equal(error.extensions.max_rows, 1000);
        return true;
      },
    );
    assert.equal(source.slicesRead, 11);
  });

  it('takes a dataset of exactly the row limit', async () => {
    const { source, input } = records(1000, 100, 2);
    const { sink } = recordingSink(source);
    const staged = await stageDataset(input, sink, { chunkSize: 32, maxRows: 1000 });
    assert.equal(staged.rows + staged.invalid, 1000);
  });
});
