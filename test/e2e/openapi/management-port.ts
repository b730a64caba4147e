import assert from 'node:assert/strict';
import { it } from 'node:test';
import { MODEL, type ContractSession } from './contract-session';

/** The management port's operations: models, scaling, traffic, defaults and shadows. */
export function managementPortContract(session: ContractSession): void {
  const { callManagement } = session;
  it('registers, lists and describes models', async () => {
    const registered = await callManagement(
      'POST',
      '/models',
      '/models?url=ag-news-bert-v2&initial_workers=0&batch_size=32',
    );
    assert.equal(registered.status, 201);
    assert.equal(
      (await callManagement('POST', '/models', '/models?url=ag-news-bert-v2')).status,
      409,
    );
    assert.equal((await callManagement('POST', '/models', '/models')).status, 400);
    assert.equal((await callManagement('POST', '/models', '/models?url=nothing-here')).status, 400);
    assert.equal(
      (await callManagement('POST', '/models', '/models?batch_size=99999&url=x')).status,
      400,
    );

    assert.equal((await callManagement('GET', '/models', '/models')).status, 200);
    const page = await callManagement('GET', '/models', '/models?limit=0');
    assert.equal(page.json.nextPageToken, '0');
    assert.equal((await callManagement('GET', '/models', '/models?limit=many')).status, 400);
    assert.equal((await callManagement('GET', '/models', '/models', { token: false })).status, 401);

    for (const [template, path] of [
      ['/models/{name}', `/models/${MODEL}`],
      ['/models/{name}/all', `/models/${MODEL}/all`],
      ['/models/{name}/{version}', `/models/${MODEL}/2`],
    ]) {
      assert.equal((await callManagement('GET', template, path)).status, 200);
    }
    assert.equal((await callManagement('GET', '/models/{name}', '/models/nothing')).status, 404);
    assert.equal(
      (await callManagement('GET', '/models/{name}/all', '/models/nothing/all')).status,
      404,
    );
    assert.equal(
      (await callManagement('GET', '/models/{name}/{version}', `/models/${MODEL}/9`)).status,
      404,
    );
  });

  it('scales versions, splits traffic, switches defaults and unregisters', async () => {
    const scale = (template: string, path: string) => callManagement('PUT', template, path);
    assert.equal(
      (await scale('/models/{name}', `/models/${MODEL}?min_worker=1&max_worker=2`)).status,
      202,
    );
    // Version 1 has its worker: a synchronous call finds the range met.
    assert.equal(
      (await scale('/models/{name}', `/models/${MODEL}?min_worker=1&synchronous=true&timeout=30`))
        .status,
      200,
    );
    assert.equal(
      (await scale('/models/{name}', `/models/${MODEL}?min_worker=3&max_worker=2`)).status,
      400,
    );
    assert.equal((await scale('/models/{name}', '/models/nothing?min_worker=1')).status, 404);
    assert.equal(
      (await scale('/models/{name}/{version}', `/models/${MODEL}/2?min_worker=0&max_worker=1`))
        .status,
      202,
    );
    assert.equal(
      (await scale('/models/{name}/{version}', `/models/${MODEL}/2?max_worker=65`)).status,
      400,
    );
    assert.equal(
      (await scale('/models/{name}/{version}', `/models/${MODEL}/9?min_worker=0`)).status,
      404,
    );

    const split = { '1': 100, '2': 0 };
    session.management.assertRequest('PUT', '/models/{name}/traffic', 'application/json', split);
    const traffic = (json: unknown, name = MODEL) =>
      callManagement('PUT', '/models/{name}/traffic', `/models/${name}/traffic`, { json });
    assert.equal((await traffic(split)).status, 200);
    assert.equal((await traffic({ '1': -5 })).status, 400);
    assert.equal((await traffic({ '1': 1 }, 'nothing')).status, 404);
    assert.equal((await traffic({})).status, 200);

    const setDefault = (version: string) =>
      callManagement(
        'PUT',
        '/models/{name}/{version}/set-default',
        `/models/${MODEL}/${version}/set-default`,
      );
    assert.equal((await setDefault('1')).status, 200);
    assert.equal((await setDefault('9')).status, 404);

    const unregister = (version: string) =>
      callManagement('DELETE', '/models/{name}/{version}', `/models/${MODEL}/${version}`);
    assert.equal((await unregister('1')).status, 409);
    assert.equal((await unregister('9')).status, 404);
  });

  it('sets, describes and clears a shadow version', async () => {
    const setting = { version: '2', fraction: 0.5 };
    session.management.assertRequest('PUT', '/models/{name}/shadow', 'application/json', setting);
    const put = (json: unknown, name = MODEL) =>
      callManagement('PUT', '/models/{name}/shadow', `/models/${name}/shadow`, { json });
    const set = await put(setting);
    assert.equal(set.status, 200);
    assert.equal(set.json.version, '2');
    assert.equal((await put({ version: '1', fraction: 0.5 })).status, 400, 'the default');
    assert.equal((await put({ version: '2', fraction: 2 })).status, 400);
    assert.equal((await put(setting, 'nothing')).status, 404);
    const described = await callManagement('GET', '/models/{name}', `/models/${MODEL}`);
    assert.equal(described.json[0].shadow.fraction, 0.5);
    const clear = (name: string) =>
      callManagement('DELETE', '/models/{name}/shadow', `/models/${name}/shadow`);
    assert.equal((await clear(MODEL)).status, 200);
    assert.equal((await clear('nothing')).status, 404);
  });
}
