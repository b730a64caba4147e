import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { SHADOW_QUEUE, bulkQueueName, commonSettings } from '@app/common';
import { demoModelStore } from '../support/model-store';
import { eventually } from '../support/processes';
import { Stack } from '../support/stack';
import { agNewsSample } from '../support/texts';

const MODEL = 'ag-news-bert';
/** Version 2 calls Sci/Tech "Science": it disagrees exactly on the texts version 1 calls Sci/Tech. */
const RENAMED = ['World', 'Sports', 'Business', 'Science'];
const MAX_BACKLOG = 5;

/**
 * Shadow versions, end to end: version 1 answers callers; version 2 (one label renamed) and 3
 * (identical) are served shadows; version 4 has no worker, so copies for it pile up until its
 * backlog reaches SHADOW_MAX_BACKLOG.
 */
describe('shadow versions', () => {
  let stack: Stack;
  let store: string;
  const texts = agNewsSample(10);
  /** Answers with no shadow: the sync bodies as sent, the async and v2 outputs. */
  let control: Traffic;

  interface Traffic {
    sync: string[];
    async: unknown;
    v2: unknown;
  }

  /** One job per sync text, one async job of three texts, one v2 job of two: 12 jobs, 15 texts. */
  async function traffic(): Promise<Traffic> {
    const sync: string[] = [];
    // One at a time: each primary job runs alone in its batch, as in the control.
    for (const text of texts) {
      const response = await fetch(`${stack.apiUrl}/predictions/${MODEL}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ data: [text] }),
      });
      assert.equal(response.status, 200);
      sync.push(await response.text());
    }
    const created = await stack.request(
      'POST',
      '/v1/predictions',
      { model: MODEL, input: { data: texts.slice(0, 3) } },
      { prefer: 'wait=30' },
    );
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const v2 = await stack.request('POST', `/v2/models/${MODEL}/infer`, {
      inputs: [{ name: 'text', datatype: 'BYTES', shape: [2], data: texts.slice(3, 5) }],
    });
    assert.equal(v2.status, 200, JSON.stringify(v2.body));
    return { sync, async: created.body.output, v2: v2.body.outputs };
  }
  const JOBS = texts.length + 2;
  /** The label name of a one-text sync answer. */
  const labelOf = (body: string): string => {
    const answer = JSON.parse(body) as { label_name: string } | { label_name: string }[];
    return (Array.isArray(answer) ? answer[0] : answer).label_name;
  };
  const TEXTS = texts.length + 3 + 2;

  async function shadow() {
    const described = await stack.manage('GET', `/models/${MODEL}`);
    assert.equal(described.status, 200);
    return described.body[0].shadow;
  }

  /** The shadow's report once `done` holds of it; a timeout shows the last one. */
  // Bodies are read field by field in assertions, as in the other end-to-end tests.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async function shadowOnce(what: string, done: (report: any) => boolean): Promise<any> {
    let last: unknown;
    try {
      return await eventually(what, async () => {
        last = await shadow();
        return done(last) ? last : undefined;
      });
    } catch (error) {
      throw new Error(`${(error as Error).message}; last report: ${JSON.stringify(last)}`);
    }
  }

  /** Sets the shadow, and waits until the API's cached model record has it. */
  async function setShadow(version: string, fraction = 1) {
    const set = await stack.manage('PUT', `/models/${MODEL}/shadow`, { version, fraction });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    // Model records are cached for a second: wait until a request is copied.
    await new Promise((r) => setTimeout(r, 1100));
    return set.body;
  }

  async function metric(name: string, labels: Record<string, string>): Promise<number> {
    const text = await (await fetch(`${stack.metricsUrl}/metrics`)).text();
    const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
    const line = text
      .split('\n')
      .find((l) => l.startsWith(`${name}{`) && wanted.every((w) => l.includes(w)));
    return line ? Number(line.split(' ').pop()) : 0;
  }

  before(async () => {
    store = demoModelStore([
      { version: '1' },
      { version: '2', labels: RENAMED },
      { version: '3' },
      { version: '4' },
    ]);
    stack = await Stack.start({
      modelStore: store,
      env: { SHADOW_MAX_BACKLOG: String(MAX_BACKLOG) },
      workerEnv: { WORKER_MODELS: [1, 2, 3].map((v) => `${MODEL}@${v}`).join(',') },
    });
    assert.equal((await stack.manage('PUT', `/models/${MODEL}/1/set-default`)).status, 200);
    for (const version of ['2', '3']) await stack.versionServed(MODEL, version);
    await new Promise((r) => setTimeout(r, 1100));
    control = await traffic();
  });
  after(async () => {
    await stack?.stop();
    if (store) rmSync(store, { recursive: true, force: true });
  });

  it('refuses a shadow that is unknown, the primary itself, or with a bad fraction', async () => {
    const put = (body: unknown, model = MODEL) =>
      stack.manage('PUT', `/models/${model}/shadow`, body);
    for (const [body, pointer] of [
      [{ version: '9', fraction: 0.5 }, '#/version'],
      [{ version: '1', fraction: 0.5 }, '#/version'],
      [{ version: '2', fraction: 0 }, '#/fraction'],
      [{ version: '2', fraction: 1.5 }, '#/fraction'],
      [{ version: '2' }, '#/fraction'],
      [{ version: '2', fraction: 0.5, extra: true }, '#/'],
    ] as const) {
      const answer = await put(body);
      assert.equal(answer.status, 400, JSON.stringify(body));
      assert.equal(answer.headers.get('content-type'), 'application/problem+json; charset=utf-8');
      assert.equal(answer.body.errors[0].pointer, pointer, JSON.stringify(answer.body));
    }
    assert.equal((await put({ version: '2', fraction: 0.5 }, 'nothing')).status, 404);
    assert.equal(await shadow(), undefined, 'no refused setting took effect');
    // Control: the same call with a good body is taken.
    assert.equal((await put({ version: '2', fraction: 0.5 })).status, 200);
    assert.equal((await stack.manage('DELETE', `/models/${MODEL}/shadow`)).status, 200);
  });

  it("measures a different version's disagreement while callers get bit-identical answers", async () => {
    const expectedDisagreements = control.sync.filter(
      (body) => labelOf(body) === 'Sci/Tech',
    ).length;
    assert.ok(expectedDisagreements > 0, 'the sample holds texts version 1 calls Sci/Tech');
    const set = await setShadow('2');
    assert.deepEqual(
      { version: set.version, fraction: set.fraction, compared: set.compared },
      { version: '2', fraction: 1, compared: { jobs: 0, texts: 0, agreed: 0 } },
    );

    const shadowed = await traffic();
    assert.deepEqual(shadowed.sync, control.sync, 'sync bodies, byte for byte');
    assert.deepEqual(shadowed.async, control.async);
    assert.deepEqual(shadowed.v2, control.v2);

    const report = await shadowOnce(
      'every copy compared',
      (s) => s.compared.jobs === JOBS && s.copies.queued === JOBS,
    );
    // Async and v2 texts (the first five) are sent twice: count the sync ones, then those again.
    const sportsIn = (list: string[]) =>
      list.filter((t) => labelOf(control.sync[texts.indexOf(t)]) === 'Sci/Tech').length;
    const disagreed = expectedDisagreements + sportsIn(texts.slice(0, 5));
    assert.equal(report.compared.texts, TEXTS);
    assert.equal(report.compared.agreed, TEXTS - disagreed);
    assert.equal(report.agreement, (TEXTS - disagreed) / TEXTS);
    assert.ok(report.meanProbabilityDifference < 1e-6, 'the same model: the same probabilities');
    assert.deepEqual(report.notCompared, {
      primaryFailed: 0,
      primaryGone: 0,
      primaryUnfinished: 0,
      shadowFailed: 0,
    });
    assert.equal(report.disagreements.length, Math.min(disagreed, 20));
    for (const d of report.disagreements) {
      assert.deepEqual([d.primary.label_name, d.shadow.label_name], ['Sci/Tech', 'Science']);
      assert.ok(
        texts.some((t) => t.slice(0, 500) === d.text),
        'its text, cut to 500 characters',
      );
    }
    const labels = { model: MODEL, version: '2' };
    assert.equal(
      await metric('modelfleet_shadow_texts_total', { ...labels, agreement: 'disagreed' }),
      disagreed,
    );
    assert.equal(
      await metric('modelfleet_shadow_comparisons_total', { ...labels, outcome: 'compared' }),
      JOBS,
    );
  });

  it('agrees on every text with an identical version, its figures counted afresh', async () => {
    const set = await setShadow('3', 1);
    assert.equal(set.compared.jobs, 0, 'another version starts from zero');
    await traffic();
    const report = await shadowOnce('every copy compared', (s) => s.compared.jobs === JOBS);
    assert.equal(report.compared.texts, TEXTS);
    assert.equal(report.agreement, 1);
    assert.ok(report.meanProbabilityDifference < 1e-6);
    assert.deepEqual(report.disagreements, []);
  });

  it('drops copies, counted, once the shadow falls behind, and stops copying once cleared', async () => {
    const bulk = new Queue(bulkQueueName(MODEL, '4'), {
      connection: { url: stack.redis.url },
      prefix: commonSettings.KEY_PREFIX.parse(undefined),
    });
    try {
      await setShadow('4');
      const requests = MAX_BACKLOG * 4;
      for (let i = 0; i < requests; i++) {
        const answer = await stack.request('POST', `/predictions/${MODEL}`, {
          data: [texts[i % texts.length]],
        });
        assert.equal(answer.status, 200, 'callers are answered while the shadow is behind');
      }
      const report = await shadowOnce(
        'every copy counted',
        (s) => s.copies.queued + s.copies.dropped === requests,
      );
      // Control: copies do go to the shadow until its backlog is full, and stay queued there.
      assert.equal(report.copies.queued, MAX_BACKLOG);
      assert.equal(await bulk.getWaitingCount(), MAX_BACKLOG);
      assert.equal(report.copies.dropped, requests - MAX_BACKLOG);
      const dropped = { model: MODEL, version: '4', outcome: 'dropped' };
      assert.equal(await metric('modelfleet_shadow_copies_total', dropped), requests - MAX_BACKLOG);

      const cleared = await stack.manage('DELETE', `/models/${MODEL}/shadow`);
      assert.equal(cleared.status, 200);
      assert.equal(await shadow(), undefined);
      await new Promise((r) => setTimeout(r, 1100));
      assert.equal(
        (await stack.request('POST', `/predictions/${MODEL}`, { data: ['x'] })).status,
        200,
      );
      assert.equal(
        await metric('modelfleet_shadow_copies_total', dropped),
        requests - MAX_BACKLOG,
        'no copy was tried after the shadow was cleared',
      );
    } finally {
      await bulk.close();
    }
  });
  it('retries a comparison whose primary has not finished, and counts one that is gone', async () => {
    const comparisons = new Queue(SHADOW_QUEUE, {
      connection: { url: stack.redis.url },
      prefix: commonSettings.KEY_PREFIX.parse(undefined),
    });
    try {
      await setShadow('3');
      // Version 4 has no worker: its job waits while the shadow's copy is answered.
      const created = await stack.request('POST', '/v1/predictions', {
        model: MODEL,
        version: '4',
        input: { data: [texts[0]] },
      });
      assert.equal(created.status, 202, JSON.stringify(created.body));
      await eventually('the comparison to wait for its primary', async () =>
        (await comparisons.getDelayedCount()) > 0 ? true : undefined,
      );
      const canceled = await stack.request('POST', `/v1/predictions/${created.body.id}/cancel`);
      assert.equal(canceled.status, 200);
      const report = await shadowOnce(
        'the comparison counted',
        (s) => s.notCompared.primaryGone > 0,
      );
      assert.equal(report.notCompared.primaryGone, 1);
      assert.equal(report.compared.jobs, 0);
    } finally {
      await comparisons.close();
    }
  });

  it('ends the shadow when its version is unregistered', async () => {
    await setShadow('4');
    assert.equal((await stack.manage('DELETE', `/models/${MODEL}/4`)).status, 200);
    assert.equal(await shadow(), undefined);
  });
});
