import assert from 'node:assert/strict';
import { it } from 'node:test';
import { eventually } from '../../support/processes';
import {
  API_KEY,
  MODEL,
  type ContractSession,
  type InferenceCallOptions,
} from './contract-session';

/** The inference port's health checks, and its sync and async predictions. */
export function predictionsContract(session: ContractSession): void {
  const { callInference } = session;
  it('answers the health checks without a key', async () => {
    assert.equal((await callInference('GET', '/ping', '/ping', { key: false })).status, 200);
    assert.equal((await callInference('GET', '/healthz', '/healthz', { key: false })).status, 200);
    assert.equal((await callInference('GET', '/readyz', '/readyz', { key: false })).status, 200);
  });

  it('answers sync predictions in every documented body form, POST and PUT', async () => {
    const json = { data: ['Yankees beat the Red Sox', 'Oil prices surge'] };
    session.inference.assertRequest('POST', '/predictions/{model}', 'application/json', json);
    const form = new FormData();
    form.append('data', 'NASA launches a new Mars probe');
    const cases: [string, string, string, InferenceCallOptions][] = [
      ['POST', '/predictions/{model}', `/predictions/${MODEL}`, { json }],
      [
        'POST',
        '/predictions/{model}',
        `/predictions/${MODEL}?probabilities=true`,
        { type: 'text/plain', body: 'Stocks fall' },
      ],
      ['POST', '/predictions/{model}', `/predictions/${MODEL}`, { body: form }],
      ['PUT', '/predictions/{model}', `/predictions/${MODEL}`, { body: '["a text", "another"]' }],
      ['POST', '/predictions/{model}/{version}', `/predictions/${MODEL}/1`, { json: 'one text' }],
      [
        'PUT',
        '/predictions/{model}/{version}',
        `/predictions/${MODEL}/1`,
        { type: 'application/octet-stream', body: 'a text' },
      ],
    ];
    for (const [method, template, path, options] of cases) {
      assert.equal(
        (await callInference(method, template, path, options)).status,
        200,
        `${method} ${path}`,
      );
    }
  });

  it('refuses bad sync predictions with documented problems', async () => {
    const post = (path: string, options: InferenceCallOptions) =>
      callInference('POST', '/predictions/{model}', path, options);
    assert.equal((await post(`/predictions/${MODEL}`, { json: { data: [] } })).status, 400);
    assert.equal(
      (await post(`/predictions/${MODEL}`, { body: Buffer.from([0xff, 0xfe, 0x00]) })).status,
      400,
    );
    assert.equal(
      (await post(`/predictions/${MODEL}`, { json: { data: ['x'] }, key: false })).status,
      401,
    );
    assert.equal((await post('/predictions/nothing', { json: { data: ['x'] } })).status, 404);
    assert.equal(
      (await post(`/predictions/${MODEL}`, { json: { data: Array(9).fill('x') } })).status,
      413,
    );
    assert.equal(
      (await post(`/predictions/${MODEL}`, { type: 'text/plain; charset=latin1', body: 'x' }))
        .status,
      415,
    );
    // Version 2 has no worker.
    const unserved = await callInference(
      'POST',
      '/predictions/{model}/{version}',
      `/predictions/${MODEL}/2`,
      {
        json: { data: ['x'] },
      },
    );
    assert.equal(unserved.status, 503);
    const put = await callInference(
      'PUT',
      '/predictions/{model}/{version}',
      '/predictions/nothing/1',
      { body: 'x' },
    );
    assert.equal(put.status, 404);
    const putDefault = await callInference('PUT', '/predictions/{model}', '/predictions/nothing', {
      body: 'x',
    });
    assert.equal(putDefault.status, 404);
  });

  it('creates, polls and cancels async predictions', async () => {
    const body = { model: MODEL, version: '1', input: { data: ['Apple unveils a new iPhone'] } };
    session.inference.assertRequest('POST', '/v1/predictions', 'application/json', body);
    const create = (json: unknown, headers: Record<string, string> = {}, key?: boolean) =>
      callInference('POST', '/v1/predictions', '/v1/predictions', { json, headers, key });

    const created = await create(body);
    assert.equal(created.status, 202);
    const waited = await create(body, { prefer: 'wait=30' });
    assert.ok([200, 202].includes(waited.status));
    const keyed = await create(body, { 'idempotency-key': 'contract-1', 'x-api-key': API_KEY });
    assert.equal(keyed.status, 202);
    assert.equal(
      (await create({ ...body, probabilities: true }, { 'idempotency-key': 'contract-1' })).status,
      422,
    );
    assert.equal((await create({ ...body, webhook: 'http://10.0.0.1/hook' })).status, 422);
    assert.equal((await create({ ...body, extra: 1 })).status, 400);
    assert.equal((await create({ model: MODEL, input: { data: [] } })).status, 400);
    assert.equal((await create({ ...body, model: 'nothing' })).status, 404);
    assert.equal((await create({ model: MODEL, input: { data: Array(9).fill('x') } })).status, 413);
    assert.equal((await create(body, {}, false)).status, 401);
    const latin1 = await callInference('POST', '/v1/predictions', '/v1/predictions', {
      type: 'application/json; charset=latin1',
      body: JSON.stringify(body),
    });
    assert.equal(latin1.status, 415);

    const get = (id: string) =>
      callInference('GET', '/v1/predictions/{id}', `/v1/predictions/${id}`);
    await eventually('the prediction to finish', async () => {
      const polled = await get(created.json.id);
      assert.equal(polled.status, 200);
      return polled.json.status === 'succeeded' ? true : undefined;
    });
    assert.equal((await get('nothing')).status, 404);

    // Version 2 has no worker: its predictions stay queued, until MAX_QUEUED_JOBS refuse more.
    const queuedBody = { ...body, version: '2' };
    const queued = await create(queuedBody);
    assert.equal(queued.status, 202);
    const cancel = (id: string) =>
      callInference('POST', '/v1/predictions/{id}/cancel', `/v1/predictions/${id}/cancel`);
    assert.equal((await cancel(queued.json.id)).status, 200);
    assert.equal((await cancel(queued.json.id)).status, 409);
    assert.equal((await cancel('nothing')).status, 404);
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await create(queuedBody));
    const refused = answers.find((a) => a.status === 429);
    assert.ok(refused, answers.map((a) => a.status).join(', '));
    assert.match(refused.headers.get('retry-after') ?? '', /^\d+$/);
  });
}
