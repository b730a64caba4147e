import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { demoModelStore } from '../support/model-store';
import {
  OpenApiContract,
  redoclyLint,
  type Answer,
  type OpenApiDocument,
} from '../support/openapi-contract';
import { eventually } from '../support/processes';
import { MANAGEMENT_TOKEN, Stack } from '../support/stack';

const API_KEY = 'contract-test-api-key';
const MODEL = 'ag-news-bert';
const CSV = 'title,description\nYankees win,Baseball in the Bronx\nOil prices surge,Markets fall\n';

/**
 * The OpenAPI documents both ports serve: they pass Redocly's recommended rules, and every
 * documented operation, called with valid and invalid inputs, answers as its document says.
 * Version 1 has a worker; version 2, registered through the API, has none, so its jobs stay
 * queued (to cancel them, and to fill its queue up to MAX_QUEUED_JOBS).
 */
describe('OpenAPI documents', () => {
  let stack: Stack;
  let store: string;
  let dataDir: string;
  let inference: OpenApiContract;
  let management: OpenApiContract;
  let redisStopped = false;

  before(async () => {
    store = demoModelStore([{ version: '1' }, { version: '2' }]);
    dataDir = mkdtempSync(join(tmpdir(), 'modelfleet-data-'));
    writeFileSync(join(dataDir, 'news.csv'), CSV);
    stack = await Stack.start({
      modelStore: store,
      env: {
        MODELS: 'ag-news-bert-v1',
        API_KEY,
        DATA_DIR: dataDir,
        MAX_TEXTS_PER_REQUEST: '8',
        MAX_QUEUED_JOBS: '3',
        BATCH_MAX_BYTES: '4096',
      },
      workerEnv: { WORKER_MODELS: `${MODEL}@1` },
    });
    const fetchDocument = async (url: string, headers: Record<string, string> = {}) => {
      const response = await fetch(`${url}/docs-json`, { headers });
      assert.equal(response.status, 200);
      return (await response.json()) as OpenApiDocument;
    };
    inference = new OpenApiContract(await fetchDocument(stack.apiUrl));
    management = new OpenApiContract(
      await fetchDocument(stack.managementUrl, { authorization: `Bearer ${MANAGEMENT_TOKEN}` }),
    );
  });

  after(async () => {
    // Once Redis is gone (the last tests), nothing can shut down gracefully: no need to wait.
    if (redisStopped)
      await Promise.all([stack.api, ...stack.workers].map((p) => p.stop('SIGKILL')));
    await stack?.stop();
    rmSync(store, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Sends a request and returns the answer as it came. */
  async function send(
    base: string,
    method: string,
    path: string,
    options: { headers?: Record<string, string>; body?: string | Buffer | FormData } = {},
  ): Promise<Answer> {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: options.headers,
      body: options.body,
    });
    return { status: response.status, headers: response.headers, text: await response.text() };
  }

  /**
   * Calls an inference operation (with the API key unless told otherwise), checks the answer
   * against the document, and returns it with its JSON body.
   */
  async function callInference(
    method: string,
    template: string,
    path: string,
    options: {
      json?: unknown;
      type?: string;
      body?: string | Buffer | FormData;
      headers?: Record<string, string>;
      key?: boolean;
    } = {},
  ) {
    const headers: Record<string, string> = {
      ...(options.key === false ? {} : { authorization: `Bearer ${API_KEY}` }),
      ...(options.json !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(options.type ? { 'content-type': options.type } : {}),
      ...options.headers,
    };
    const body = options.json !== undefined ? JSON.stringify(options.json) : options.body;
    const answer = await send(stack.apiUrl, method, path, { headers, body });
    inference.assertAnswer(method, template, answer);
    return { ...answer, json: parseJson(answer.text) };
  }

  /** Calls a management operation with the token (unless told otherwise) and checks the answer. */
  async function callManagement(
    method: string,
    template: string,
    path: string,
    options: { json?: unknown; token?: boolean } = {},
  ) {
    const headers: Record<string, string> = {
      ...(options.token === false ? {} : { authorization: `Bearer ${MANAGEMENT_TOKEN}` }),
      ...(options.json !== undefined ? { 'content-type': 'application/json' } : {}),
    };
    const body = options.json !== undefined ? JSON.stringify(options.json) : undefined;
    const answer = await send(stack.managementUrl, method, path, { headers, body });
    management.assertAnswer(method, template, answer);
    return { ...answer, json: parseJson(answer.text) };
  }

  describe('lint', () => {
    for (const port of ['inference', 'management'] as const) {
      it(`the ${port} document has no error under Redocly's recommended rules`, () => {
        const document = port === 'inference' ? inference.document : management.document;
        const report = redoclyLint(document);
        const errors = report.problems.filter((p) => p.severity === 'error');
        assert.deepEqual(
          errors.map((p) => `${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`),
          [],
        );
        assert.equal(report.totals.errors, 0);
      });
    }
  });

  describe('contract: the management port', () => {
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
      assert.equal(
        (await callManagement('POST', '/models', '/models?url=nothing-here')).status,
        400,
      );
      assert.equal(
        (await callManagement('POST', '/models', '/models?batch_size=99999&url=x')).status,
        400,
      );

      assert.equal((await callManagement('GET', '/models', '/models')).status, 200);
      const page = await callManagement('GET', '/models', '/models?limit=0');
      assert.equal(page.json.nextPageToken, '0');
      assert.equal((await callManagement('GET', '/models', '/models?limit=many')).status, 400);
      assert.equal(
        (await callManagement('GET', '/models', '/models', { token: false })).status,
        401,
      );

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
      management.assertRequest('PUT', '/models/{name}/traffic', 'application/json', split);
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
      management.assertRequest('PUT', '/models/{name}/shadow', 'application/json', setting);
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
  });

  describe('contract: the inference port', () => {
    it('answers the health checks without a key', async () => {
      assert.equal((await callInference('GET', '/ping', '/ping', { key: false })).status, 200);
      assert.equal(
        (await callInference('GET', '/healthz', '/healthz', { key: false })).status,
        200,
      );
      assert.equal((await callInference('GET', '/readyz', '/readyz', { key: false })).status, 200);
    });

    it('answers sync predictions in every documented body form, POST and PUT', async () => {
      const json = { data: ['Yankees beat the Red Sox', 'Oil prices surge'] };
      inference.assertRequest('POST', '/predictions/{model}', 'application/json', json);
      const form = new FormData();
      form.append('data', 'NASA launches a new Mars probe');
      const cases: [string, string, string, Parameters<typeof callInference>[3]][] = [
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
      const post = (path: string, options: Parameters<typeof callInference>[3]) =>
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
      const putDefault = await callInference(
        'PUT',
        '/predictions/{model}',
        '/predictions/nothing',
        {
          body: 'x',
        },
      );
      assert.equal(putDefault.status, 404);
    });

    it('creates, polls and cancels async predictions', async () => {
      const body = { model: MODEL, version: '1', input: { data: ['Apple unveils a new iPhone'] } };
      inference.assertRequest('POST', '/v1/predictions', 'application/json', body);
      const create = (json: unknown, headers: Record<string, string> = {}, key?: boolean) =>
        callInference('POST', '/v1/predictions', '/v1/predictions', { json, headers, key });

      const created = await create(body);
      assert.equal(created.status, 202);
      const waited = await create(body, { prefer: 'wait=30' });
      assert.ok([200, 202].includes(waited.status));
      const keyed = await create(body, { 'idempotency-key': 'contract-1', 'x-api-key': API_KEY });
      assert.equal(keyed.status, 202);
      assert.equal(
        (await create({ ...body, probabilities: true }, { 'idempotency-key': 'contract-1' }))
          .status,
        422,
      );
      assert.equal((await create({ ...body, webhook: 'http://10.0.0.1/hook' })).status, 422);
      assert.equal((await create({ ...body, extra: 1 })).status, 400);
      assert.equal((await create({ model: MODEL, input: { data: [] } })).status, 400);
      assert.equal((await create({ ...body, model: 'nothing' })).status, 404);
      assert.equal(
        (await create({ model: MODEL, input: { data: Array(9).fill('x') } })).status,
        413,
      );
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
      assert.ok(refused, `${answers.map((a) => a.status)}`);
      assert.match(refused.headers.get('retry-after') ?? '', /^\d+$/);
    });

    it('scores datasets, uploaded or from the data folder, and serves their results', async () => {
      const options = { model: MODEL, version: '1', path: 'news.csv', text: 'title,description' };
      inference.assertRequest('POST', '/v1/batches', 'application/json', options);
      const create = (path: string, opts: Parameters<typeof callInference>[3]) =>
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
        (await callInference('POST', '/v1/batches/{id}/cancel', '/v1/batches/nothing/cancel'))
          .status,
        404,
      );
    });

    it('unregisters the version without a worker', async () => {
      const gone = await callManagement('DELETE', '/models/{name}/{version}', `/models/${MODEL}/2`);
      assert.equal(gone.status, 200);
    });
  });

  describe('contract: every operation', () => {
    /** Values for path parameters, and valid bodies of the operations that take one. */
    const PARAMS: Record<string, string> = {
      model: MODEL,
      name: MODEL,
      version: '1',
      id: 'nothing',
    };
    const BODIES: Record<string, unknown> = {
      predict: { data: ['x'] },
      putPredict: { data: ['x'] },
      predictVersion: { data: ['x'] },
      putPredictVersion: { data: ['x'] },
      createPrediction: { model: MODEL, input: { data: ['x'] } },
      createBatch: { model: MODEL, path: 'news.csv', text: 'title' },
      setTraffic: { '1': 1 },
      setShadow: { version: '2', fraction: 0.5 },
    };

    /** Calls every operation of a document, as `request` says, and checks each answer. */
    async function callEach(
      contract: OpenApiContract,
      base: string,
      headers: Record<string, string>,
      expect: (id: string, answer: Answer) => void,
    ) {
      for (const [id, { method, path: template }] of contract.operations()) {
        const path = template.replace(/\{(\w+)\}/g, (_, name: string) => PARAMS[name]);
        const body = BODIES[id] === undefined ? undefined : JSON.stringify(BODIES[id]);
        const answer = await send(base, method, path, {
          headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) },
          body,
        });
        contract.assertAnswer(method, template, answer);
        expect(id, answer);
      }
    }

    it('refuses every operation behind a key or token without it', async () => {
      for (const [contract, base] of [
        [inference, stack.apiUrl],
        [management, stack.managementUrl],
      ] as const) {
        await callEach(contract, base, {}, (id, answer) => {
          const operation = [...contract.operations().values()].find(
            (o) => o.operation.operationId === id,
          )!.operation;
          if (operation.responses['401']) assert.equal(answer.status, 401, id);
        });
      }
    });

    it('answers as documented while Redis is away: 503 problems with Retry-After', async () => {
      redisStopped = true;
      await stack.redis.stop();
      const unavailable: string[] = [];
      const check = (id: string, answer: Answer) => {
        if (answer.status !== 503) return;
        unavailable.push(id);
        assert.match(answer.headers.get('retry-after') ?? '', /^\d+$/, id);
      };
      await callEach(inference, stack.apiUrl, { authorization: `Bearer ${API_KEY}` }, check);
      const token = { authorization: `Bearer ${MANAGEMENT_TOKEN}` };
      await callEach(management, stack.managementUrl, token, check);
      assert.ok(unavailable.includes('getBatch'), `${unavailable}`);
      assert.ok(unavailable.includes('listModels'), `${unavailable}`);
    });
  });

  it('called every documented operation, with a success and an error', (t) => {
    for (const contract of [inference, management]) {
      for (const [id, { operation }] of contract.operations()) {
        const documented = Object.keys(operation.responses);
        const checked = documented.filter((s) => contract.seen.has(`${id} ${s}`));
        assert.ok(
          checked.some((s) => s.startsWith('2')),
          `${id}: no success checked`,
        );
        // Every operation behind a key can fail; the health checks may not, here.
        if (operation.responses['401']) {
          assert.ok(
            checked.some((s) => /^[45]/.test(s)),
            `${id}: no error checked`,
          );
        }
        const unchecked = documented.filter((s) => !checked.includes(s));
        if (unchecked.length) t.diagnostic(`${id}: not provoked here: ${unchecked.join(', ')}`);
      }
    }
  });
});

// Bodies are read field by field in assertions, as in the other end-to-end tests.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function parseJson(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
