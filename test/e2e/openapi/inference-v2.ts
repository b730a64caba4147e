import assert from 'node:assert/strict';
import { it } from 'node:test';
import { encodeRequest } from '../../support/binary-tensor-client';
import { MODEL, type ContractSession } from './contract-session';

const TEXTS = ['Yankees beat the Red Sox', 'Oil prices surge'];
const jsonRequest = (texts = TEXTS) => ({
  inputs: [{ name: 'text', datatype: 'BYTES', shape: [texts.length], data: texts }],
});

/** The Open Inference Protocol's REST routes, binary tensor data included. */
export function openInferenceContract(session: ContractSession): void {
  const { callInference } = session;
  const infer = '/v2/models/{model}/infer';
  const inferVersion = '/v2/models/{model}/versions/{version}/infer';

  it('answers the protocol health checks without a key, the rest with one', async () => {
    const get = (template: string, path = template, key = true) =>
      callInference('GET', template, path, { key });
    assert.equal((await get('/v2/health/live', undefined, false)).status, 200);
    assert.equal((await get('/v2/health/ready', undefined, false)).status, 200);
    const server = await get('/v2');
    assert.deepEqual(server.json.extensions, ['binary_tensor_data']);
    for (const [template, path] of [
      ['/v2/models/{model}', `/v2/models/${MODEL}`],
      ['/v2/models/{model}/versions/{version}', `/v2/models/${MODEL}/versions/1`],
      ['/v2/models/{model}/ready', `/v2/models/${MODEL}/ready`],
      ['/v2/models/{model}/versions/{version}/ready', `/v2/models/${MODEL}/versions/1/ready`],
    ]) {
      assert.equal((await get(template, path)).status, 200, path);
    }
    assert.equal((await get('/v2/models/{model}', '/v2/models/nothing')).status, 404);
    assert.equal(
      (
        await get(
          '/v2/models/{model}/versions/{version}/ready',
          `/v2/models/${MODEL}/versions/9/ready`,
        )
      ).status,
      404,
    );
  });

  it('answers inference in JSON and in binary tensor data, as documented', async () => {
    const json = jsonRequest();
    session.inference.assertRequest('POST', infer, 'application/json', json);
    const plain = await callInference('POST', infer, `/v2/models/${MODEL}/infer`, { json });
    assert.equal(plain.status, 200, plain.text);
    const versioned = await callInference(
      'POST',
      inferVersion,
      `/v2/models/${MODEL}/versions/1/infer`,
      {
        json: { ...json, outputs: [{ name: 'probabilities' }] },
      },
    );
    assert.equal(versioned.status, 200, versioned.text);

    const binary = encodeRequest({
      inputs: [{ name: 'text', datatype: 'BYTES', shape: [2], data: TEXTS, binary: true }],
      parameters: { binary_data_output: true },
    });
    const header = Number(binary.headers['inference-header-content-length']);
    session.inference.assertRequest(
      'POST',
      infer,
      'application/json',
      JSON.parse(binary.body.subarray(0, header).toString()),
    );
    for (const [template, path] of [
      [infer, `/v2/models/${MODEL}/infer`],
      [inferVersion, `/v2/models/${MODEL}/versions/1/infer`],
    ]) {
      const answer = await callInference('POST', template, path, {
        type: 'application/octet-stream',
        body: binary.body,
        headers: binary.headers,
      });
      assert.equal(answer.status, 200, answer.text);
      assert.equal(answer.headers.get('content-type'), 'application/octet-stream');
      assert.match(answer.headers.get('inference-header-content-length') ?? '', /^\d+$/);
    }
  });

  it('refuses bad inference requests with documented errors', async () => {
    const post = (path: string, options: Parameters<typeof callInference>[3]) =>
      callInference('POST', infer, path, options);
    const path = `/v2/models/${MODEL}/infer`;
    assert.equal((await post(path, { json: { inputs: [] } })).status, 400);
    const binary = encodeRequest({
      inputs: [{ name: 'text', datatype: 'BYTES', shape: [2], data: TEXTS, binary: true }],
    });
    const cut = await post(path, {
      body: binary.body.subarray(0, binary.body.length - 1),
      headers: binary.headers,
    });
    assert.equal(cut.status, 400, cut.text);
    assert.equal((await post('/v2/models/nothing/infer', { json: jsonRequest() })).status, 404);
    const many = Array.from({ length: 9 }, (_, i) => `text ${i}`);
    assert.equal((await post(path, { json: jsonRequest(many) })).status, 413);
    const latin1 = await post(path, {
      type: 'application/json; charset=latin1',
      body: JSON.stringify(jsonRequest()),
    });
    assert.equal(latin1.status, 415, latin1.text);
  });
}
