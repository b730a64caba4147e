import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  classifyTexts,
  openModel,
  packingLimits,
  type Handler,
  type Prediction,
} from '@app/handler';
import { spawnGroup } from '../support/children';
import { DEMO_MODEL, ROOT } from '../support/paths';
import { eventually } from '../support/processes';
import { Stack } from '../support/stack';
import { agNewsCsv, agNewsJsonl } from '../support/texts';

const dataDir = mkdtempSync(join(tmpdir(), 'modelfleet-data-'));

/** `count` AG News test rows as CSV (no header: class, title, description). */
const csvRows = agNewsCsv;

describe('bulk scoring', () => {
  let stack: Stack;
  let handler: Handler<Prediction>;

  before(async () => {
    stack = await Stack.start({ env: { DATA_DIR: dataDir } });
    const opened = await openModel(DEMO_MODEL, { device: 'cpu' });
    handler = opened.handler as Handler<Prediction>;
  });
  after(async () => {
    await stack?.stop();
    await handler?.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Accuracy of the handler itself on texts with 0-based gold labels. */
  async function handlerAccuracy(texts: string[], gold: number[]): Promise<number> {
    const { pkg } = await openModel(DEMO_MODEL, { warmup: false, device: 'cpu' });
    const { results } = await classifyTexts(handler, texts, packingLimits(pkg.manifest.batching));
    return results.filter((r, i) => r.label === gold[i]).length / texts.length;
  }

  it('scores a 2,000-row CSV upload with the accuracy of the handler itself', async () => {
    const csv = csvRows(2000);
    const query =
      'model=ag-news-bert&columns=class,title,description&text=title,description&label=class&label_base=1&passthrough=class';
    const created = await stack.request('POST', `/v1/batches?${query}`, csv, {
      'content-type': 'text/csv',
    });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    assert.equal(created.body.counts.total, 2000);
    const done = await stack.batchFinished(created.body.id);
    assert.equal(done.status, 'succeeded');
    assert.deepEqual(done.counts, {
      total: 2000,
      succeeded: 2000,
      failed: 0,
      invalid: 0,
      pending: 0,
    });

    const rows = csv
      .trim()
      .split('\n')
      .map((line) => line.match(/^"(\d)","(.*)","(.*)"$/)!);
    const texts = rows.map((m) => `${m[2].replace(/""/g, '"')} ${m[3].replace(/""/g, '"')}`);
    const expected = await handlerAccuracy(
      texts,
      rows.map((m) => Number(m[1]) - 1),
    );
    assert.equal(done.summary.accuracy, expected);
    assert.equal(
      done.summary.confusion.flat().reduce((a: number, b: number) => a + b, 0),
      2000,
    );

    const results = await stack.request('GET', `${done.urls.results}?format=csv`);
    const lines = (results.body as string).trim().split('\n');
    assert.equal(lines[0], 'line,id,label,label_name,probability,gold,gold_name,class');
    assert.equal(lines.length, 2001);
    assert.match(lines[1], /^1,1,\d,[^,]+,0\.\d+,[1-4],[^,]+,[1-4]$/);
    // Gold labels come back numbered as the input numbered them (label_base=1): as "class".
    for (const line of lines.slice(1)) {
      const cells = line.split(',');
      assert.equal(cells[5], cells.at(-1), line);
    }
  });

  it('scores a JSONL file of the data folder, joins ids, and puts malformed rows in the errors file', async () => {
    const source = agNewsJsonl(2000);
    const lines = source.map((line, i) => {
      const row = JSON.parse(line) as { text: string; label: number };
      return JSON.stringify({ uid: `row-${i + 1}`, text: row.text, gold: row.label });
    });
    lines[9] = '{"uid": "row-10", "text": "unterminated'; // invalid JSON
    lines[19] = JSON.stringify({ uid: 'row-20', gold: 1 }); // missing text column
    lines[29] = JSON.stringify({ uid: 'row-30', text: '   ', gold: 1 }); // empty text
    writeFileSync(join(dataDir, 'news.jsonl'), lines.join('\n') + '\n');
    const created = await stack.request('POST', '/v1/batches', {
      model: 'ag-news-bert',
      path: 'news.jsonl',
      text: 'text',
      id: 'uid',
      label: 'gold',
    });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const done = await stack.batchFinished(created.body.id);
    assert.deepEqual(done.counts, {
      total: 1997,
      succeeded: 1997,
      failed: 0,
      invalid: 3,
      pending: 0,
    });

    const scored = await stack.jsonlRows(done.urls.results);
    assert.equal(scored.length, 1997);
    assert.ok(
      scored.every((r) => r.id === `row-${r.line}`),
      'every result carries the id of its input line',
    );
    const errors = await stack.jsonlRows(done.urls.errors);
    assert.deepEqual(
      errors.map((e) => e.line),
      [10, 20, 30],
    );
    assert.match(errors[0].error, /invalid JSON/);
    assert.match(errors[1].error, /missing text column/);
    assert.match(errors[2].error, /empty text/);

    const texts = scored.map((r) => JSON.parse(lines[r.line - 1]).text as string);
    const expected = await handlerAccuracy(
      texts,
      scored.map((r) => r.gold),
    );
    assert.equal(done.summary.accuracy, expected);
  });

  it('refuses a path outside the data folder and an unknown column mapping', async () => {
    const outside = await stack.request('POST', '/v1/batches', {
      model: 'ag-news-bert',
      path: '../../etc/passwd',
      text: 'x',
    });
    assert.equal(outside.status, 400);
    assert.match(outside.body.detail, /outside the data folder/);
    const bad = await stack.request(
      'POST',
      '/v1/batches?model=ag-news-bert&text=nope',
      'a,b\n1,2\n',
      { 'content-type': 'text/csv' },
    );
    assert.equal(bad.status, 422);
    assert.match(JSON.stringify(bad.body.row_errors), /missing text column/);
  });

  it('keeps the partial results of a canceled batch', async () => {
    const query =
      'model=ag-news-bert&columns=class,title,description&text=title,description&chunk_size=4';
    const created = await stack.request('POST', `/v1/batches?${query}`, csvRows(7600), {
      'content-type': 'text/csv',
    });
    assert.equal(created.status, 202);
    await eventually(
      'some rows to be scored',
      async () => {
        const view = await stack.request('GET', created.body.urls.get);
        return view.body.counts.succeeded > 0 ? true : undefined;
      },
      60_000,
      20,
    );
    const canceled = await stack.request('POST', created.body.urls.cancel);
    assert.equal(canceled.status, 200, JSON.stringify(canceled.body));
    assert.equal(canceled.body.status, 'canceled');
    const scored = canceled.body.counts.succeeded;
    assert.ok(scored > 0 && scored < 7600, `${scored} rows scored before the cancel`);
    const results = ((await stack.request('GET', created.body.urls.results)).body as string)
      .trim()
      .split('\n');
    assert.equal(results.length, scored);
    const again = await stack.request('POST', created.body.urls.cancel);
    assert.equal(again.status, 409);
  });

  it('scores a file with the CLI, with a progress bar, and resumes an interrupted run', async () => {
    const work = mkdtempSync(join(tmpdir(), 'modelfleet-score-'));
    const input = join(work, 'news.csv');
    writeFileSync(
      input,
      'title,description,topic\n' +
        csvRows(300)
          .split('\n')
          .filter(Boolean)
          .map((l) => {
            const m = l.match(/^"(\d)",(".*"),(".*")$/)!;
            return `${m[2]},${m[3]},${m[1]}`;
          })
          .join('\n') +
        '\n',
    );
    const out = join(work, 'results.jsonl');
    const run = (args: string[]) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawnGroup(
          process.execPath,
          [join(ROOT, 'bin', 'modelfleet.js'), 'score', input, ...args],
          {
            stdio: ['ignore', 'ignore', 'pipe'],
          },
        );
        let stderr = '';
        child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
        child.on('exit', (code) => resolve({ code, stderr }));
      });
    const args = [
      '--text',
      'title,description',
      '--label',
      'topic',
      '--label-base',
      '1',
      '--out',
      out,
      '--server',
      stack.apiUrl,
      '--poll-ms',
      '50',
    ];
    const first = await run(args);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /succeeded: 300 scored, 0 failed, accuracy \d+\.\d+%/);
    const results = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(results.length, 300);
    assert.deepEqual(
      results.map((r) => r.line),
      Array.from({ length: 300 }, (_, i) => i + 2),
    );
    assert.ok(!existsSync(`${out}.batch.json`), 'the resume state is gone once done');

    // An interrupted run leaves its state behind; the next run follows that batch instead of uploading again.
    const created = await stack.request(
      'POST',
      `/v1/batches?model=ag-news-bert&text=title,description`,
      readFileSync(input, 'utf8'),
      {
        'content-type': 'text/csv',
      },
    );
    writeFileSync(
      `${out}.batch.json`,
      JSON.stringify({ batchId: created.body.id, server: stack.apiUrl, file: input }),
    );
    const resumed = await run(args);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, new RegExp(`resuming batch ${created.body.id}`));
    assert.equal(readFileSync(out, 'utf8').trim().split('\n').length, 300);
  });
});
