import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { demoModelStore } from '../support/model-store';
import { Stack } from '../support/stack';

/** TorchServe's documented management calls, with its codes and shapes (extra fields are fine). */
describe("TorchServe's management API", () => {
  let stack: Stack;

  before(async () => {
    stack = await Stack.start({
      modelStore: demoModelStore([{ version: '1' }, { version: '2' }]),
      env: { MODELS: 'ag-news-bert-v1' },
    });
  });

  after(async () => {
    await stack?.stop();
  });

  /** The versions GET /models lists for the demo model. */
  const listedVersions = async () => {
    const listed = await stack.manage('GET', '/models');
    assert.equal(listed.status, 200);
    return listed.body.models.find((m: { modelName: string }) => m.modelName === 'ag-news-bert')
      .versions as string[];
  };

  it('GET /models lists registered versions only: a package of the store is not listed before POST /models', async () => {
    assert.deepEqual(await listedVersions(), ['1']);
    assert.equal((await stack.manage('GET', '/models/ag-news-bert/2')).status, 404);
  });

  it('POST /models registers a package: 200/201 with a status, then 409 for the same version', async () => {
    const first = await stack.manage('POST', '/models?url=ag-news-bert-v2&initial_workers=0');
    assert.ok([200, 201].includes(first.status), JSON.stringify(first.body));
    assert.match(first.body.status, /registered/);
    const again = await stack.manage('POST', '/models?url=ag-news-bert-v2');
    assert.equal(again.status, 409);
    assert.match(again.headers.get('content-type') ?? '', /problem\+json/);
  });

  it('GET /models pages with limit and nextPageToken', async () => {
    const all = await stack.manage('GET', '/models');
    assert.equal(all.status, 200);
    assert.deepEqual(
      all.body.models.map((m: { modelName: string }) => m.modelName),
      ['ag-news-bert'],
    );
    assert.equal(all.body.nextPageToken, undefined);
    const page = await stack.manage('GET', '/models?limit=0');
    assert.deepEqual(page.body.models, []);
    assert.equal(page.body.nextPageToken, '0');
    const next = await stack.manage(
      `GET`,
      `/models?limit=1&next_page_token=${page.body.nextPageToken}`,
    );
    assert.equal(next.body.models.length, 1);
  });

  it('GET /models/{name}, /models/{name}/all and /models/{name}/{version} describe versions', async () => {
    const described = await stack.manage('GET', '/models/ag-news-bert');
    assert.equal(described.status, 200);
    assert.equal(described.body.length, 2);
    const all = await stack.manage('GET', '/models/ag-news-bert/all');
    assert.equal(all.status, 200);
    assert.deepEqual(all.body.map((v: { modelVersion: string }) => v.modelVersion).sort(), [
      '1',
      '2',
    ]);
    const one = await stack.manage('GET', '/models/ag-news-bert/2');
    assert.equal(one.body[0].modelName, 'ag-news-bert');
    assert.equal(one.body[0].modelVersion, '2');
    assert.equal((await stack.manage('GET', '/models/nope')).status, 404);
  });

  it('PUT /models/{name}?min_worker= answers 202 {status}, or 200 once done with synchronous=true', async () => {
    const later = await stack.manage('PUT', '/models/ag-news-bert/2?min_worker=0&max_worker=1');
    assert.equal(later.status, 202);
    assert.equal(typeof later.body.status, 'string');
    const now = await stack.manage(
      'PUT',
      '/models/ag-news-bert?min_worker=1&max_worker=1&synchronous=true',
    );
    assert.equal(now.status, 200, JSON.stringify(now.body));
    assert.match(now.body.status, /Workers scaled to 1 for model: ag-news-bert/);
  });

  it('PUT /models/{name}/{version}/set-default and DELETE /models/{name}/{version} answer {status}', async () => {
    const set = await stack.manage('PUT', '/models/ag-news-bert/2/set-default');
    assert.equal(set.status, 200);
    assert.equal(typeof set.body.status, 'string');
    const removed = await stack.manage('DELETE', '/models/ag-news-bert/1');
    assert.equal(removed.status, 200);
    assert.equal(typeof removed.body.status, 'string');
  });

  it('GET /models no longer lists an unregistered version, its package still in the store (control: registered, both were)', async () => {
    assert.deepEqual(await listedVersions(), ['2']);
    const again = await stack.manage('POST', '/models?url=ag-news-bert-v1&initial_workers=0');
    assert.ok([200, 201].includes(again.status), JSON.stringify(again.body));
    assert.deepEqual((await listedVersions()).sort(), ['1', '2']);
  });
});
