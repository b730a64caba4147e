import assert from 'node:assert/strict';
import { it } from 'node:test';
import { eventually } from '../../support/processes';
import { MODEL, CSV, type ContractSession, type InferenceCallOptions } from './contract-session';

/**
 * The inference port's batches, created, followed, canceled and read; then the version without a
 * worker, whose jobs and batches the tests before left queued, is unregistered.
 */
export function batchesContract(session: ContractSession): void {
  const { callInference, callManagement } = session;
  it('scores datasets, uploaded or from the data folder, and serves their results', async () => {
    const options = { model: MODEL, version: '1', path: 'news.csv', text: 'title,description' };
    session.inference.assertRequest('POST', '/v1/batches', 'application/json', options);
    const create = (path: string, opts: InferenceCallOptions) =>
      callInference('POST', '/v1/batches', path, opts);

    const fromPath = await create('/v1/batches', { json: options });
    assert.equal(fromPath.status, 202);
    const upload = await create(
      `/v1/batches?model=${MODEL}&text=title,description&probabilities=true`,
      {
        type: 'text/csv',
        body: CSV,
      },
    );
    assert.equal(upload.status, 202);
    const jsonl = '{"text": "Stocks fall"}\n{"text": ""}\n';
    assert.equal(
      (
        await create(`/v1/batches?model=${MODEL}&text=text`, {
          type: 'application/x-ndjson',
          body: jsonl,
        })
      ).status,
      202,
    );

    assert.equal(
      (await create('/v1/batches', { json: { ...options, text: undefined } })).status,
      400,
    );
    assert.equal(
      (await create('/v1/batches', { json: { ...options, path: '../etc/passwd' } })).status,
      400,
    );
    assert.equal(
      (await create('/v1/batches', { json: { ...options, path: 'missing.csv' } })).status,
      404,
    );
    assert.equal((await create('/v1/batches', { json: options, key: false })).status, 401);
    assert.equal(
      (
        await create(`/v1/batches?model=${MODEL}&text=title`, {
          type: 'text/csv',
          body: 'title\n' + 'x\n'.repeat(3000),
        })
      ).status,
      413,
    );
    assert.equal(
      (
        await create(`/v1/batches?model=${MODEL}&text=title`, {
          type: 'text/csv',
          headers: { 'content-encoding': 'compress' },
          body: CSV,
        })
      ).status,
      415,
    );
    assert.equal(
      (
        await create(`/v1/batches?model=${MODEL}&text=description`, {
          type: 'text/csv',
          body: 'title,description\nx,\n',
        })
      ).status,
      422,
    );
    assert.equal(
      (await create(`/v1/batches?model=nothing&text=title`, { type: 'text/csv', body: CSV }))
        .status,
      404,
    );

    const id = upload.json.id as string;
    await eventually('the batch to finish', async () => {
      const polled = await callInference('GET', '/v1/batches/{id}', `/v1/batches/${id}`);
      assert.equal(polled.status, 200);
      return polled.json.status === 'succeeded' ? true : undefined;
    });
    const results = await callInference(
      'GET',
      '/v1/batches/{id}/results',
      `/v1/batches/${id}/results`,
    );
    assert.equal(results.text.trim().split('\n').length, 2);
    const csv = await callInference(
      'GET',
      '/v1/batches/{id}/results',
      `/v1/batches/${id}/results?format=csv`,
    );
    assert.match(csv.headers.get('content-type') ?? '', /text\/csv/);
    assert.equal(
      (await callInference('GET', '/v1/batches/{id}/errors', `/v1/batches/${id}/errors`)).status,
      200,
    );
    assert.equal(
      (await callInference('POST', '/v1/batches/{id}/cancel', `/v1/batches/${id}/cancel`)).status,
      409,
    );

    // A batch for version 2 (no worker) runs until canceled.
    const waiting = await create('/v1/batches', { json: { ...options, version: '2' } });
    assert.equal(waiting.status, 202);
    const cancel = await callInference(
      'POST',
      '/v1/batches/{id}/cancel',
      `/v1/batches/${waiting.json.id}/cancel`,
    );
    assert.equal(cancel.status, 200);
    for (const [template, path] of [
      ['/v1/batches/{id}', '/v1/batches/nothing'],
      ['/v1/batches/{id}/results', '/v1/batches/nothing/results'],
      ['/v1/batches/{id}/errors', '/v1/batches/nothing/errors'],
    ]) {
      assert.equal((await callInference('GET', template, path)).status, 404);
    }
    assert.equal(
      (await callInference('POST', '/v1/batches/{id}/cancel', '/v1/batches/nothing/cancel')).status,
      404,
    );
  });

  it('unregisters the version without a worker', async () => {
    const gone = await callManagement('DELETE', '/models/{name}/{version}', `/models/${MODEL}/2`);
    assert.equal(gone.status, 200);
  });
}
