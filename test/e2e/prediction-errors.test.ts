import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventually } from '../support/processes';
import { Stack } from '../support/stack';

const API_KEY = 'test-api-key-123';
const auth = { authorization: `Bearer ${API_KEY}` };

describe('inference API input errors', () => {
  let stack: Stack;

  before(async () => {
    stack = await Stack.start({
      env: { API_KEY, MAX_TEXTS_PER_REQUEST: '4', MAX_BODY_BYTES: '2048', SYNC_TIMEOUT_MS: '1500' },
    });
  });
  after(() => stack?.stop());

  const cases: [string, string | object, number, RegExp][] = [
    ['malformed JSON', '{"data": [', 400, /JSON/],
    ['missing data', { text: 'x' }, 400, /data/],
    ['empty data', { data: [] }, 400, /empty/],
    ['data neither a text nor a list', { data: 42 }, 400, /must be an array/],
    ['non-string items', { data: ['ok', 7, null] }, 400, /2 item\(s\)/],
    ['too many items', { data: ['a', 'b', 'c', 'd', 'e'] }, 413, /limit is 4/],
    ['a body over the size limit', { data: ['x'.repeat(5000)] }, 413, /2048 bytes/],
  ];
  for (const [what, body, status, detail] of cases) {
    it(`answers ${status} problem+json to ${what}`, async () => {
      const response = await stack.request('POST', '/predictions/ag-news-bert', body, auth);
      assert.equal(response.status, status);
      assert.equal(response.headers.get('content-type'), 'application/problem+json; charset=utf-8');
      assert.equal(response.body.status, status);
      assert.ok(response.body.title);
      assert.match(response.body.detail, detail);
    });
  }

  it('takes a string as data on the TorchServe route (one text), but only a list in an async body', async () => {
    const one = await stack.request(
      'POST',
      '/predictions/ag-news-bert',
      { data: 'Oil prices' },
      auth,
    );
    assert.equal(one.status, 200, JSON.stringify(one.body));
    assert.equal(typeof one.body.label_name, 'string', 'one text is answered with one object');
    const async = await stack.request(
      'POST',
      '/v1/predictions',
      { model: 'ag-news-bert', input: { data: 'Oil prices' } },
      auth,
    );
    assert.equal(async.status, 400);
    assert.equal(async.body.errors[0].pointer, '#/input/data');
  });

  it('answers 404 to an unknown model or version', async () => {
    const model = await stack.request('POST', '/predictions/no-such-model', { data: ['x'] }, auth);
    assert.equal(model.status, 404);
    assert.match(
      model.body.detail,
      /"no-such-model" is not registered; registered models: "ag-news-bert"/,
    );
    const version = await stack.request(
      'POST',
      '/v1/predictions',
      { model: 'ag-news-bert', version: '9', input: { data: ['x'] } },
      auth,
    );
    assert.equal(version.status, 404);
    assert.match(version.body.detail, /no version "9"/);
  });

  it('answers 400 to an async body with unknown or missing fields', async () => {
    const response = await stack.request(
      'POST',
      '/v1/predictions',
      { model: 'ag-news-bert', inputs: [] },
      auth,
    );
    assert.equal(response.status, 400);
    assert.ok(response.body.errors.length > 0);
  });

  it('answers 401 without the API key, and ping stays open', async () => {
    const response = await stack.request('POST', '/predictions/ag-news-bert', { data: ['x'] });
    assert.equal(response.status, 401);
    assert.equal((await stack.request('GET', '/ping')).status, 200);
  });

  it('answers 404 to an unknown prediction id', async () => {
    const response = await stack.request('GET', '/v1/predictions/does-not-exist', undefined, auth);
    assert.equal(response.status, 404);
  });

  it('answers 504 with the job id past the sync timeout, and the job can still be polled', async () => {
    // A worker killed outright still counts as live until its heartbeat expires: the job waits.
    stack.workers[0].child.kill('SIGKILL');
    await stack.workers[0].waitForExit();
    const response = await stack.request(
      'POST',
      '/predictions/ag-news-bert',
      { data: ['Late answer'] },
      auth,
    );
    assert.equal(response.status, 504);
    assert.match(response.body.detail, /no answer within 1500 ms/);
    assert.equal(response.body.url, `/v1/predictions/${response.body.id}`);
    stack.addWorker();
    const done = await eventually('the timed-out prediction to succeed', async () => {
      const polled = await stack.request('GET', response.body.url, undefined, auth);
      return polled.body.status === 'succeeded' ? polled.body : undefined;
    });
    assert.equal(done.output.length, 1);
  });
});
