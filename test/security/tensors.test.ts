import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { GrpcTestClient } from '../support/grpc-client';
import { MANAGEMENT_TOKEN, Stack } from '../support/stack';

const MODEL = 'ag-news-bert';

/** A JSON array `depth` levels deep around one text, written as text (no recursion to build). */
const nested = (depth: number) => `${'['.repeat(depth)}"Oil prices"${']'.repeat(depth)}`;

/** A v2 REST inference body whose one input has this shape and this (JSON) data. */
const v2Body = (shape: number[], data: string) =>
  `{"inputs": [{"name": "text", "datatype": "BYTES", "shape": ${JSON.stringify(shape)}, "data": ${data}}]}`;

/** A gRPC `ModelInferRequest` of one text under this shape. */
const grpcRequest = (shape: number[]) => ({
  model_name: MODEL,
  inputs: [
    { name: 'text', datatype: 'BYTES', shape, contents: { bytes_contents: [Buffer.from('a')] } },
  ],
});

describe('tensors: nesting bounded by the shape, one shape check for REST and gRPC', () => {
  let stack: Stack;
  let grpc: GrpcTestClient;

  before(async () => {
    stack = await Stack.start();
    grpc = GrpcTestClient.openInference(stack.grpcAddress);
  });

  after(async () => {
    grpc?.close();
    await stack?.stop();
  });

  const infer = (body: string) =>
    stack.request('POST', `/v2/models/${MODEL}/infer`, body, {
      'content-type': 'application/json',
    });

  for (const depth of [10_000, 100_000]) {
    it(`v2 REST: data nested ${depth} deep is a 400 naming the nesting`, async () => {
      const response = await infer(v2Body([1], nested(depth)));
      assert.equal(response.status, 400, JSON.stringify(response.body));
      assert.match(response.body.error, /nested deeper than the shape's 1 level/);
    });
  }

  it('control: data nested exactly as its shape is answered', async () => {
    const response = await infer(v2Body([1, 1], nested(2)));
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.deepEqual(response.body.outputs[0].shape, [1]);
  });

  it('a body nested 100,000 deep is a 4xx on every route that reads JSON, never a 500', async () => {
    const deepArray = nested(100_000);
    const deepObject = `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`;
    const routes: [string, string, string][] = [
      [stack.apiUrl, 'POST', `/v2/models/${MODEL}/infer`],
      [stack.apiUrl, 'POST', `/v2/models/${MODEL}/versions/1/infer`],
      [stack.apiUrl, 'POST', '/v1/predictions'],
      [stack.apiUrl, 'POST', `/predictions/${MODEL}`],
      [stack.apiUrl, 'POST', '/v1/batches'],
      [stack.managementUrl, 'PUT', `/models/${MODEL}/traffic`],
      [stack.managementUrl, 'PUT', `/models/${MODEL}/shadow`],
      [stack.managementUrl, 'POST', '/models'],
    ];
    const headers = {
      'content-type': 'application/json',
      authorization: `Bearer ${MANAGEMENT_TOKEN}`,
    };
    for (const [base, method, path] of routes) {
      for (const body of [
        deepArray,
        deepObject,
        `{"data": ${deepArray}}`,
        `{"model": "${MODEL}", "input": {"data": ${deepArray}}}`,
        v2Body([1], deepArray),
      ]) {
        const response = await stack.request(method, path, body, headers, base);
        assert.ok(
          response.status >= 400 && response.status < 500,
          `${method} ${path} ${body.slice(0, 40)}: ${response.status} ${JSON.stringify(response.body)}`,
        );
      }
    }
  });

  it('gRPC ModelInfer refuses a negative shape with INVALID_ARGUMENT, as REST does with 400', async () => {
    const error = await grpc.failure('ModelInfer', grpcRequest([-1, -1]));
    assert.equal(error.code, status.INVALID_ARGUMENT, error.details);
    const words = /has shape \[-1, -1\]: a shape is one or more whole dimensions, each 0 or more/;
    assert.match(error.details, words);
    const rest = await infer(v2Body([-1, -1], '["a"]'));
    assert.equal(rest.status, 400);
    assert.match(rest.body.error, words);
  });

  it('control: the same request with the shape [1, 1] is answered over gRPC', async () => {
    const answer = await grpc.call('ModelInfer', grpcRequest([1, 1]));
    const label = answer.outputs.find((o: { name: string }) => o.name === 'label');
    assert.equal(label.contents.int64_contents.length, 1);
  });
});
