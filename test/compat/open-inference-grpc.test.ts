import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { protoPath as HEALTH_PROTO } from 'grpc-health-check';
import { GrpcTestClient, type CallError } from '../support/grpc-client';
import { Stack } from '../support/stack';
import { agNewsSample } from '../support/texts';

const MODEL = 'ag-news-bert';
const TEXTS = agNewsSample(6);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Tensor = { name: string; datatype: string; shape: number[]; contents: Record<string, any> };
const tensor = (outputs: Tensor[], name: string) => outputs.find((o) => o.name === name)!;

/** A `ModelInferRequest` carrying `texts` as typed BYTES contents. */
const inferRequest = (texts: string[], extra: Record<string, unknown> = {}) => ({
  model_name: MODEL,
  inputs: [
    {
      name: 'text',
      datatype: 'BYTES',
      shape: [texts.length],
      contents: { bytes_contents: texts.map((t) => Buffer.from(t)) },
    },
  ],
  ...extra,
});

/** Texts as a raw BYTES tensor: each a 4-byte little-endian length, then its UTF-8 bytes. */
const rawBytes = (texts: string[]) =>
  Buffer.concat(
    texts.flatMap((t) => {
      const bytes = Buffer.from(t);
      const length = Buffer.alloc(4);
      length.writeUInt32LE(bytes.length);
      return [length, bytes];
    }),
  );

describe('Open Inference Protocol (KServe v2) over gRPC', () => {
  let stack: Stack;
  let client: GrpcTestClient;
  let labels: number[];

  before(async () => {
    stack = await Stack.start();
    // The client knows nothing but the vendored grpc_predict_v2.proto and the address.
    client = GrpcTestClient.openInference(stack.grpcAddress);
    const rest = await stack.request('POST', `/predictions/${MODEL}`, { data: TEXTS });
    assert.equal(rest.status, 200);
    labels = rest.body.map((r: { label: number }) => r.label);
  });
  after(async () => {
    client?.close();
    await stack?.stop();
  });

  it('ServerLive and ServerReady answer true', async () => {
    assert.deepEqual(await client.call('ServerLive'), { live: true });
    assert.deepEqual(await client.call('ServerReady'), { ready: true });
  });

  it('ServerMetadata names the server', async () => {
    const metadata = await client.call('ServerMetadata');
    assert.equal(metadata.name, 'modelfleet');
    assert.deepEqual(metadata.extensions, ['binary_tensor_data']);
  });

  it('ModelMetadata and ModelReady describe the model, with and without a version', async () => {
    for (const version of ['', '1']) {
      const metadata = await client.call('ModelMetadata', { name: MODEL, version });
      assert.equal(metadata.name, MODEL);
      assert.deepEqual(metadata.versions, ['1']);
      assert.deepEqual(metadata.inputs, [{ name: 'text', datatype: 'BYTES', shape: [-1] }]);
      assert.deepEqual(
        metadata.outputs.map((o: Tensor) => [o.name, o.datatype, o.shape]),
        [
          ['label', 'INT64', [-1]],
          ['label_name', 'BYTES', [-1]],
          ['probability', 'FP32', [-1]],
          ['probabilities', 'FP32', [-1, 4]],
        ],
      );
      assert.deepEqual(await client.call('ModelReady', { name: MODEL, version }), { ready: true });
    }
  });

  it('ModelInfer gives the labels POST /predictions gives for the same texts, the id echoed', async () => {
    const answer = await client.call('ModelInfer', inferRequest(TEXTS, { id: 'grpc-7' }));
    assert.equal(answer.id, 'grpc-7');
    assert.equal(answer.model_name, MODEL);
    assert.equal(answer.model_version, '1');
    assert.deepEqual(
      answer.outputs.map((o: Tensor) => [o.name, o.datatype, o.shape]),
      [
        ['label', 'INT64', [TEXTS.length]],
        ['label_name', 'BYTES', [TEXTS.length]],
        ['probability', 'FP32', [TEXTS.length]],
      ],
    );
    assert.deepEqual(tensor(answer.outputs, 'label').contents.int64_contents, labels);
    const names = tensor(answer.outputs, 'label_name').contents.bytes_contents as Buffer[];
    assert.equal(names.length, TEXTS.length);
  });

  it('ModelInfer reads raw_input_contents and answers raw_output_contents', async () => {
    const answer = await client.call('ModelInfer', {
      model_name: MODEL,
      model_version: '1',
      inputs: [{ name: 'text', datatype: 'BYTES', shape: [TEXTS.length] }],
      raw_input_contents: [rawBytes(TEXTS)],
    });
    assert.deepEqual(
      answer.outputs.map((o: Tensor) => o.name),
      ['label', 'label_name', 'probability'],
    );
    const [rawLabels] = answer.raw_output_contents as Buffer[];
    const decoded = Array.from({ length: TEXTS.length }, (_, i) =>
      Number(rawLabels.readBigInt64LE(i * 8)),
    );
    assert.deepEqual(decoded, labels);
  });

  it('ModelInfer with the probabilities parameter adds an FP32 [n, 4] tensor', async () => {
    const answer = await client.call(
      'ModelInfer',
      inferRequest(TEXTS, { parameters: { probabilities: { bool_param: true } } }),
    );
    const probabilities = tensor(answer.outputs, 'probabilities');
    assert.deepEqual(probabilities.shape, [TEXTS.length, 4]);
    assert.equal(probabilities.contents.fp32_contents.length, TEXTS.length * 4);
    assert.equal(answer.id, '', 'no id was given');
  });

  it('bad inputs are INVALID_ARGUMENT, with a message saying what to fix', async () => {
    const bad = [
      { ...inferRequest(['a']), inputs: [{ name: 'text', datatype: 'FP32', shape: [1] }] },
      { ...inferRequest(['a']), inputs: [{ name: 'text', datatype: 'BYTES', shape: [2] }] },
      { ...inferRequest(['a']), raw_input_contents: [Buffer.from([9, 0, 0, 0, 65])] },
      inferRequest(['a'], { outputs: [{ name: 'logits' }] }),
    ];
    for (const request of bad) {
      const error = await client.failure('ModelInfer', request);
      assert.equal(error.code, status.INVALID_ARGUMENT, error.details);
      assert.ok(error.details.length > 10, error.details);
    }
  });

  it('an unknown model or version is NOT_FOUND', async () => {
    for (const [method, request] of [
      ['ModelInfer', { ...inferRequest(['a']), model_name: 'no-such-model' }],
      ['ModelInfer', { ...inferRequest(['a']), model_version: '9' }],
      ['ModelMetadata', { name: 'no-such-model' }],
      ['ModelReady', { name: MODEL, version: '9' }],
    ] as const) {
      const error = await client.failure(method, request);
      assert.equal(error.code, status.NOT_FOUND, `${method}: ${error.details}`);
    }
  });

  it('counts every call in the request metrics, as HTTP requests are, with transport "grpc"', async () => {
    const route = '/inference.GRPCInferenceService/ModelMetadata';
    const count = async (status: string) => {
      const text = await (await fetch(`${stack.metricsUrl}/metrics`)).text();
      const line = text
        .split('\n')
        .find(
          (l) =>
            l.startsWith('modelfleet_http_requests_total{') &&
            [`transport="grpc"`, `route="${route}"`, `status="${status}"`].every((label) =>
              l.includes(label),
            ),
        );
      return line ? Number(line.split(' ').pop()) : 0;
    };
    const [ok, notFound] = [await count('OK'), await count('NOT_FOUND')];
    await client.call('ModelMetadata', { name: MODEL });
    await client.call('ModelMetadata', { name: MODEL });
    await client.failure('ModelMetadata', { name: 'no-such-model' });
    assert.equal(await count('OK'), ok + 2);
    assert.equal(await count('NOT_FOUND'), notFound + 1);
  });

  it('the standard health service says SERVING', async () => {
    const health = new GrpcTestClient(stack.grpcAddress, HEALTH_PROTO, 'grpc.health.v1.Health');
    try {
      assert.deepEqual(await health.call('Check', { service: '' }), { status: 'SERVING' });
      const service = 'inference.GRPCInferenceService';
      assert.deepEqual(await health.call('Check', { service }), { status: 'SERVING' });
      const unknown = await health.failure('Check', { service: 'no.Such' });
      assert.equal(unknown.code, status.NOT_FOUND);
    } finally {
      health.close();
    }
  });

  it("TorchServe's gRPC API: Ping, and Predictions with the labels of POST /predictions", async () => {
    const torchServe = GrpcTestClient.torchServe(stack.grpcAddress);
    try {
      const ping = await torchServe.call('Ping');
      assert.deepEqual(JSON.parse(ping.health as string), { status: 'Healthy' });
      const many = await torchServe.call('Predictions', {
        model_name: MODEL,
        input: { data: Buffer.from(JSON.stringify({ data: TEXTS })) },
      });
      const results = JSON.parse((many.prediction as Buffer).toString()) as { label: number }[];
      assert.deepEqual(
        results.map((r) => r.label),
        labels,
      );
      const one = await torchServe.call('Predictions', {
        model_name: MODEL,
        model_version: '1',
        input: { data: Buffer.from(TEXTS[0]) },
      });
      assert.equal(JSON.parse((one.prediction as Buffer).toString()).label, labels[0]);
      const unknown = await torchServe.failure('Predictions', {
        model_name: 'no-such-model',
        input: { data: Buffer.from('a') },
      });
      assert.equal(unknown.code, status.NOT_FOUND);
      const streamed = await torchServe.stream('StreamPredictions', {
        model_name: MODEL,
        input: { data: Buffer.from(TEXTS[0]) },
      });
      assert.equal(streamed.length, 1);
      assert.equal(JSON.parse((streamed[0].prediction as Buffer).toString()).label, labels[0]);
      await assert.rejects(
        torchServe.stream('StreamPredictions', { model_name: MODEL, input: {} }),
        (error: CallError) => error.code === status.INVALID_ARGUMENT,
      );
    } finally {
      torchServe.close();
    }
  });
});
