import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Stack } from '../support/stack';
import { agNewsSample } from '../support/texts';

const MODEL = 'ag-news-bert';
const TEXTS = agNewsSample(6);

/** An inference request of the protocol carrying `texts` as its BYTES input. */
const inferBody = (texts: string[], extra: Record<string, unknown> = {}) => ({
  inputs: [{ name: 'text', datatype: 'BYTES', shape: [texts.length], data: texts }],
  ...extra,
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Tensor = { name: string; datatype: string; shape: number[]; data: any[] };
const tensor = (outputs: Tensor[], name: string) => outputs.find((o) => o.name === name)!;

/** Asserts an answer is the protocol's error object, with the status given. */
function assertProtocolError(
  response: { status: number; headers: Headers; body: unknown },
  status: number,
) {
  assert.equal(response.status, status, JSON.stringify(response.body));
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
  const body = response.body as { error?: unknown };
  assert.deepEqual(Object.keys(body), ['error']);
  assert.equal(typeof body.error, 'string');
  assert.ok((body.error as string).length > 0);
}

describe('Open Inference Protocol (KServe v2) over REST', () => {
  let stack: Stack;

  before(async () => {
    stack = await Stack.start();
  });
  after(() => stack?.stop());

  it('health: live and ready answer 200', async () => {
    const live = await stack.request('GET', '/v2/health/live');
    assert.deepEqual([live.status, live.body], [200, { live: true }]);
    const ready = await stack.request('GET', '/v2/health/ready');
    assert.deepEqual([ready.status, ready.body], [200, { ready: true }]);
  });

  it('server metadata names the server and its extensions', async () => {
    const { status, body } = await stack.request('GET', '/v2');
    assert.equal(status, 200);
    assert.equal(body.name, 'modelfleet');
    assert.equal(typeof body.version, 'string');
    assert.deepEqual(body.extensions, ['binary_tensor_data']);
  });

  it('model metadata: one BYTES input "text", the classifier outputs, with and without a version', async () => {
    for (const path of [`/v2/models/${MODEL}`, `/v2/models/${MODEL}/versions/1`]) {
      const { status, body } = await stack.request('GET', path);
      assert.equal(status, 200, path);
      assert.equal(body.name, MODEL);
      assert.deepEqual(body.versions, ['1']);
      assert.equal(typeof body.platform, 'string');
      assert.deepEqual(body.inputs, [{ name: 'text', datatype: 'BYTES', shape: [-1] }]);
      assert.deepEqual(body.outputs, [
        { name: 'label', datatype: 'INT64', shape: [-1] },
        { name: 'label_name', datatype: 'BYTES', shape: [-1] },
        { name: 'probability', datatype: 'FP32', shape: [-1] },
        { name: 'probabilities', datatype: 'FP32', shape: [-1, 4] },
      ]);
    }
  });

  it('model ready: 200 with and without a version', async () => {
    for (const path of [`/v2/models/${MODEL}/ready`, `/v2/models/${MODEL}/versions/1/ready`]) {
      const { status, body } = await stack.request('GET', path);
      assert.deepEqual([status, body], [200, { name: MODEL, ready: true }], path);
    }
  });

  it('infer: label, label_name and probability tensors of shape [n], the id echoed', async () => {
    const { status, body } = await stack.request(
      'POST',
      `/v2/models/${MODEL}/infer`,
      inferBody(TEXTS, { id: 'request-42' }),
    );
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.id, 'request-42');
    assert.equal(body.model_name, MODEL);
    assert.equal(body.model_version, '1');
    assert.deepEqual(
      body.outputs.map((o: Tensor) => [o.name, o.datatype, o.shape]),
      [
        ['label', 'INT64', [TEXTS.length]],
        ['label_name', 'BYTES', [TEXTS.length]],
        ['probability', 'FP32', [TEXTS.length]],
      ],
    );
    const labels = tensor(body.outputs, 'label').data;
    assert.ok(labels.every((l: unknown) => Number.isInteger(l) && (l as number) >= 0));
    assert.ok(tensor(body.outputs, 'probability').data.every((p: number) => p > 0 && p <= 1));
  });

  it('infer gives the labels POST /predictions gives for the same texts', async () => {
    const rest = await stack.request('POST', `/predictions/${MODEL}`, { data: TEXTS });
    assert.equal(rest.status, 200);
    const v2 = await stack.request(
      'POST',
      `/v2/models/${MODEL}/versions/1/infer`,
      inferBody(TEXTS),
    );
    assert.equal(v2.status, 200);
    assert.deepEqual(
      tensor(v2.body.outputs, 'label').data,
      rest.body.map((r: { label: number }) => r.label),
    );
    assert.deepEqual(
      tensor(v2.body.outputs, 'label_name').data,
      rest.body.map((r: { label_name: string }) => r.label_name),
    );
  });

  it('infer with the probabilities parameter adds an FP32 [n, 4] tensor whose rows sum to 1', async () => {
    const { status, body } = await stack.request(
      'POST',
      `/v2/models/${MODEL}/infer`,
      inferBody(TEXTS, { parameters: { probabilities: true } }),
    );
    assert.equal(status, 200);
    const probabilities = tensor(body.outputs, 'probabilities');
    assert.deepEqual([probabilities.datatype, probabilities.shape], ['FP32', [TEXTS.length, 4]]);
    for (let row = 0; row < TEXTS.length; row++) {
      const sum = probabilities.data.slice(row * 4, row * 4 + 4).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - 1) < 1e-4, `row ${row} sums to ${sum}`);
    }
  });

  it('infer answers only the outputs the request names', async () => {
    const { status, body } = await stack.request(
      'POST',
      `/v2/models/${MODEL}/infer`,
      inferBody(TEXTS.slice(0, 2), { outputs: [{ name: 'probabilities' }, { name: 'label' }] }),
    );
    assert.equal(status, 200);
    assert.deepEqual(
      body.outputs.map((o: Tensor) => [o.name, o.shape]),
      [
        ['label', [2]],
        ['probabilities', [2, 4]],
      ],
    );
    assert.equal(body.id, undefined, 'no id was given');
  });

  it('a nested [n, 1] input is read as n texts', async () => {
    const texts = TEXTS.slice(0, 2);
    const { status, body } = await stack.request('POST', `/v2/models/${MODEL}/infer`, {
      inputs: [{ name: 'text', datatype: 'BYTES', shape: [2, 1], data: texts.map((t) => [t]) }],
    });
    assert.equal(status, 200);
    assert.deepEqual(tensor(body.outputs, 'label').shape, [2]);
  });

  it('bad inputs are 400 with the protocol error object', async () => {
    const path = `/v2/models/${MODEL}/infer`;
    const bad = [
      { inputs: [{ name: 'text', datatype: 'INT64', shape: [1], data: [7] }] },
      { inputs: [{ name: 'input0', datatype: 'BYTES', shape: [1], data: ['a'] }] },
      { inputs: [{ name: 'text', datatype: 'BYTES', shape: [3], data: ['a'] }] },
      { inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], data: [''] }] },
      inferBody(['a'], { outputs: [{ name: 'logits' }] }),
      { data: ['not an inference request'] },
    ];
    for (const body of bad) {
      assertProtocolError(await stack.request('POST', path, body), 400);
    }
    assertProtocolError(await stack.request('POST', path, '{"inputs": ['), 400);
  });

  it('an unknown model or version is 404 with the protocol error object', async () => {
    for (const [method, path, body] of [
      ['GET', '/v2/models/no-such-model'],
      ['GET', '/v2/models/no-such-model/ready'],
      ['GET', `/v2/models/${MODEL}/versions/9`],
      ['POST', '/v2/models/no-such-model/infer', inferBody(['a'])],
      ['POST', `/v2/models/${MODEL}/versions/9/infer`, inferBody(['a'])],
    ] as const) {
      assertProtocolError(await stack.request(method, path, body), 404);
    }
  });

  it('control: routes outside /v2 still answer problem+json', async () => {
    const response = await stack.request('POST', '/predictions/no-such-model', { data: ['a'] });
    assert.equal(response.status, 404);
    assert.match(response.headers.get('content-type') ?? '', /application\/problem\+json/);
    assert.equal(response.body.status, 404);
  });
});
