import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MANIFEST_FILE, canonicalJson, manifestSchema } from '@app/handler/package';
import { demoModelStore } from '../support/model-store';
import { Stack } from '../support/stack';
import { agNewsJsonl } from '../support/texts';

const MODEL = 'ag-news-bert';
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** The package hash as docs/provenance.md defines it, computed here from the files themselves. */
function expectedHash(dir: string): string {
  const parsed = manifestSchema.parse(JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8')));
  const { name: _n, version: _v, ...content } = parsed;
  const files = [
    parsed.model_file!,
    parsed.vocab_file!,
    parsed.config_file!,
    ...parsed.extra_files,
  ];
  const lines = [
    `${sha256(canonicalJson(content))}  ${MANIFEST_FILE}`,
    ...files.map((file) => `${sha256(readFileSync(join(dir, file)))}  ${file}`),
  ].sort((a, b) => (a.slice(66) < b.slice(66) ? -1 : 1));
  return sha256(lines.map((line) => `${line}\n`).join(''));
}

/** 300 distinct AG News texts as JSONL rows with ids. */
const rows = [...new Set(agNewsJsonl(400).map((l) => (JSON.parse(l) as { text: string }).text))]
  .slice(0, 300)
  .map((text, i) => ({ id: `r${i}`, text }));
const dataset = rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

describe('provenance and the result cache', () => {
  let stack: Stack;
  let store: string;

  before(async () => {
    // 1, 2: the same files (2 is the control of the hash); 3: reference.json changed;
    // 4, 5: the same files again, registered below with the cache on.
    store = demoModelStore(['1', '2', '3', '4', '5'].map((version) => ({ version })));
    const changed = join(store, 'ag-news-bert-v3', 'reference.json');
    const reference = readFileSync(changed, 'utf8');
    rmSync(changed); // a hard link to the shipped file: replace it, never write through it
    writeFileSync(changed, reference.replace(/}\s*$/, ', "changed": true}\n'));
    stack = await Stack.start({
      modelStore: store,
      env: { MODELS: 'ag-news-bert-v1,ag-news-bert-v2,ag-news-bert-v3' },
      workerEnv: { WORKER_MAX_VERSIONS: '5' },
    });
    for (const version of ['4', '5']) {
      const registered = await stack.manage(
        'POST',
        `/models?url=ag-news-bert-v${version}&cache_ttl_s=600`,
      );
      assert.equal(registered.status, 201, JSON.stringify(registered.body));
      assert.equal(registered.body.cacheTtlS, 600);
    }
    for (const version of ['1', '2', '3', '4', '5']) await stack.versionServed(MODEL, version);
  });
  after(async () => {
    await stack?.stop();
    if (store) rmSync(store, { recursive: true, force: true });
  });

  /** A sync call with ?provenance=true: the provenance of its first answer. */
  async function provenanceOf(version: string, text = 'Stocks rally as rates fall') {
    const answer = await stack.request('POST', `/predictions/${MODEL}/${version}?provenance=true`, {
      data: [text],
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return answer.body[0].provenance;
  }

  /** Scores `dataset` on a version and returns the finished batch and its JSONL rows. */
  async function score(version: string) {
    const created = await stack.request(
      'POST',
      `/v1/batches?model=${MODEL}&version=${version}&text=text&id=id`,
      dataset,
      { 'content-type': 'application/x-ndjson' },
    );
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const done = await stack.batchFinished(created.body.id);
    assert.equal(done.status, 'succeeded');
    assert.equal(done.counts.succeeded, rows.length);
    return { batch: done, rows: await stack.jsonlRows(done.urls.results) };
  }

  it('shows on an async prediction what produced it', async () => {
    const created = await stack.request(
      'POST',
      '/v1/predictions',
      { model: MODEL, version: '1', input: { data: ['Oil prices jump', 'Yankees win'] } },
      { Prefer: 'wait=30' },
    );
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const { provenance } = created.body;
    assert.equal(provenance.model, MODEL);
    assert.equal(provenance.version, '1');
    assert.equal(provenance.package_sha256, expectedHash(join(store, 'ag-news-bert-v1')));
    assert.equal(provenance.provider, 'cpu');
    assert.equal(provenance.precision, 'fp32');
    assert.equal(provenance.worker, 'test-worker-1');
    assert.match(provenance.batch_id, /^[0-9a-f-]{36}$/);
    assert.ok(provenance.batch_size >= 1 && provenance.batch_size <= 2, provenance.batch_size);
    assert.ok(provenance.queue_wait_ms >= 0);
    assert.ok(provenance.inference_ms > 0);
    assert.equal(provenance.cached_texts, 0);
    assert.equal(provenance.cached, false);
    assert.equal(provenance.queue_wait_ms, created.body.metrics.queue_time_ms);

    const version = await stack.manage('GET', `/models/${MODEL}/1`);
    assert.equal(version.body[0].packageSha256, provenance.package_sha256);
    assert.equal(version.body[0].cacheTtlS, 0);
  });

  it('keeps TorchServe-shaped sync answers as they are unless ?provenance=true', async () => {
    const plain = await stack.request('POST', `/predictions/${MODEL}/1`, { data: 'Oil prices' });
    assert.deepEqual(Object.keys(plain.body).sort(), ['label', 'label_name', 'probability']);
    const single = await stack.request('POST', `/predictions/${MODEL}/1?provenance=true`, {
      data: 'Oil prices',
    });
    assert.equal(single.body.label, plain.body.label);
    assert.equal(single.body.provenance.worker, 'test-worker-1');
    const list = await stack.request('POST', `/predictions/${MODEL}/1?provenance=true`, {
      data: ['Oil prices', 'Yankees win'],
    });
    assert.equal(list.body.length, 2);
    for (const answer of list.body) {
      assert.equal(answer.provenance.version, '1');
      assert.equal(answer.provenance.cached, false);
    }
  });

  it('answers v2 inference with provenance parameters only when asked', async () => {
    const body = (parameters?: object) => ({
      ...(parameters ? { parameters } : {}),
      inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], data: ['Oil prices'] }],
    });
    const plain = await stack.request('POST', `/v2/models/${MODEL}/versions/1/infer`, body());
    assert.equal(plain.status, 200, JSON.stringify(plain.body));
    assert.equal(plain.body.parameters, undefined);
    const asked = await stack.request(
      'POST',
      `/v2/models/${MODEL}/versions/1/infer`,
      body({ provenance: true }),
    );
    assert.equal(
      asked.body.parameters.package_sha256,
      await provenanceOf('1').then((p) => p.package_sha256),
    );
    assert.equal(asked.body.parameters.worker, 'test-worker-1');
    assert.equal(asked.body.parameters.batch_size, 1);
  });

  it('gives the same package hash to the same files, and another once a file changed', async () => {
    const [one, two, three] = await Promise.all(['1', '2', '3'].map((v) => provenanceOf(v)));
    assert.match(one.package_sha256, /^[0-9a-f]{64}$/);
    assert.equal(two.package_sha256, one.package_sha256, 'same files under another version');
    assert.notEqual(three.package_sha256, one.package_sha256, 'reference.json changed');
    assert.equal(three.package_sha256, expectedHash(join(store, 'ag-news-bert-v3')));
  });

  it('answers a repeated bulk set from the cache with identical results', async () => {
    const first = await score('4');
    assert.equal(first.batch.summary.cached_rows, 0);
    assert.ok(first.rows.every((r) => r.provenance.cached === false));
    const second = await score('4');
    assert.equal(second.batch.summary.cached_rows, rows.length);
    assert.ok(
      second.rows.every((r) => r.provenance.cached === true && r.provenance.batch_id === null),
    );
    const answer = (r: Record<string, unknown>) => [r.id, r.label, r.label_name, r.probability];
    assert.deepEqual(second.rows.map(answer), first.rows.map(answer));

    // CSV columns stay as they were unless asked for; then the provenance is in columns.
    const csv = async (query: string) =>
      (
        (await stack.request('GET', `${second.batch.urls.results}?format=csv${query}`))
          .body as string
      )
        .split('\n')[0]
        .split(',');
    assert.deepEqual(await csv(''), ['line', 'id', 'label', 'label_name', 'probability']);
    const columns = await csv('&provenance=true');
    assert.ok(columns.includes('provenance_cached'), columns.join(','));
    assert.ok(columns.includes('provenance_package_sha256'), columns.join(','));

    // The worker counts the hits.
    const metrics = await fetch(`${await stack.workerMetricsUrl(stack.workers[0])}/metrics`);
    const hits = new RegExp(
      `modelfleet_worker_result_cache_texts_total\\{[^}]*version="4"[^}]*outcome="hit"[^}]*\\} (\\d+)`,
    ).exec(await metrics.text());
    assert.ok(hits && Number(hits[1]) >= rows.length, hits?.[0]);

    // A prediction of one of those texts says it came from the cache.
    const created = await stack.request(
      'POST',
      '/v1/predictions',
      { model: MODEL, version: '4', input: { data: [rows[0].text] } },
      { Prefer: 'wait=30' },
    );
    assert.equal(created.body.provenance.cached, true);
    assert.equal(created.body.provenance.batch_size, 0);

    // Sync calls sent together (which may share one job) each say what answered their own text.
    const [hit, miss] = await Promise.all(
      [rows[1].text, 'A text no batch has scored before'].map((text) =>
        stack.request('POST', `/predictions/${MODEL}/4?provenance=true`, { data: [text] }),
      ),
    );
    assert.equal(hit.body[0].provenance.cached, true, JSON.stringify(hit.body));
    assert.equal(miss.body[0].provenance.cached, false, JSON.stringify(miss.body));
  });

  it('answers nothing from the cache when it is off (the control)', async () => {
    await score('1');
    const second = await score('1');
    assert.equal(second.batch.summary.cached_rows, 0);
    assert.ok(second.rows.every((r) => r.provenance.cached === false));
  });

  it('never answers one version from the cache of another, even with the same package', async () => {
    await score('4'); // the set is in version 4's cache (again)
    const other = await score('5');
    assert.equal(
      (await provenanceOf('5')).package_sha256,
      (await provenanceOf('4')).package_sha256,
      'the same files',
    );
    assert.equal(other.batch.summary.cached_rows, 0);
  });
});
