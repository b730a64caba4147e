import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT } from '../support/paths';
import { eventually } from '../support/processes';
import { MANAGEMENT_TOKEN, Stack } from '../support/stack';

/** Value of one sample line of a Prometheus text exposition, or undefined. */
function sample(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      return Number(line.split(' ').pop());
  }
  return undefined;
}

describe('observability', () => {
  let stack: Stack;
  let metricsUrl: string;
  let workerMetricsUrl: string;

  before(async () => {
    stack = await Stack.start({ workerEnv: { LOG_LEVEL: 'debug' } });
    metricsUrl = stack.metricsUrl;
    workerMetricsUrl = await stack.workerMetricsUrl(stack.workers[0]);
  });
  after(() => stack?.stop());

  it('logs the ports it bound when told to take any free one (port 0)', async () => {
    const listening = stack.api.logs().find((l) => l.msg === 'API listening')!;
    const ports = [
      listening.port,
      listening.managementPort,
      listening.metricsPort,
      listening.grpcPort,
    ];
    assert.ok(
      ports.every((p) => typeof p === 'number' && p > 0),
      `API listening on ${JSON.stringify(ports)}`,
    );
    assert.equal(new Set(ports).size, 4);
    assert.equal((await fetch(`http://127.0.0.1:${Number(listening.port)}/ping`)).status, 200);
    const models = await fetch(`http://127.0.0.1:${Number(listening.managementPort)}/models`);
    assert.equal(models.status, 401, 'the management port asks for its token');
    const metrics = await fetch(`http://127.0.0.1:${Number(listening.metricsPort)}/metrics`);
    assert.match(await metrics.text(), /modelfleet_http_requests_total/);

    const started = stack.workers[0].logs().find((l) => l.msg === 'worker started')!;
    assert.ok(typeof started.opsPort === 'number' && started.opsPort > 0);
    const worker = await fetch(`http://127.0.0.1:${started.opsPort}/metrics`);
    // GET /models/{m} says where each serving worker's metrics are, whatever port it got.
    const described = await stack.manage('GET', '/models/ag-news-bert/1');
    assert.equal(
      described.body[0].workers[0].metricsUrl,
      `http://127.0.0.1:${started.opsPort}/metrics`,
    );
    assert.match(await worker.text(), /modelfleet_worker_jobs_total/);
  });

  it('counts predictions and times them, in the API and in the worker', async () => {
    const before = await (await fetch(`${metricsUrl}/metrics`)).text();
    const start =
      sample(before, 'modelfleet_predictions_total', {
        model: 'ag-news-bert',
        kind: 'sync',
        outcome: 'succeeded',
      }) ?? 0;
    for (let i = 0; i < 3; i++) {
      const response = await stack.request('POST', '/predictions/ag-news-bert', {
        data: ['one text', 'and another one'],
      });
      assert.equal(response.status, 200);
    }
    const api = await (await fetch(`${metricsUrl}/metrics`)).text();
    assert.equal(
      sample(api, 'modelfleet_predictions_total', {
        model: 'ag-news-bert',
        version: '1',
        kind: 'sync',
        outcome: 'succeeded',
      }),
      start + 3,
    );
    assert.ok(
      sample(api, 'modelfleet_prediction_duration_seconds_count', {
        model: 'ag-news-bert',
        version: '1',
      })! >= 3,
    );
    assert.ok(
      sample(api, 'modelfleet_http_requests_total', {
        app: 'inference',
        route: '/predictions/:model',
        status: '200',
      })! >= 3,
    );
    assert.equal(sample(api, 'modelfleet_workers', { model: 'ag-news-bert', version: '1' }), 1);
    assert.equal(
      sample(api, 'modelfleet_queue_jobs', {
        model: 'ag-news-bert',
        version: '1',
        state: 'waiting',
      }),
      0,
    );
    assert.ok(api.includes('process_cpu_seconds_total'));

    const worker = await (await fetch(`${workerMetricsUrl}/metrics`)).text();
    const labels = { model: 'ag-news-bert', version: '1' };
    assert.ok(
      sample(worker, 'modelfleet_worker_jobs_total', { ...labels, outcome: 'completed' })! >= 3,
    );
    assert.ok(
      sample(worker, 'modelfleet_batch_size_sum', labels)! >= 6,
      'six texts went through forward passes',
    );
    assert.ok(sample(worker, 'modelfleet_inference_duration_seconds_count', labels)! >= 3);
    assert.ok(sample(worker, 'modelfleet_queue_wait_seconds_count', labels)! >= 3);
    assert.ok(sample(worker, 'modelfleet_batch_tokens_sum', labels)! > 0);
    assert.notEqual(sample(worker, 'modelfleet_padding_ratio_count', labels), undefined);
  });

  it('answers liveness and readiness probes', async () => {
    assert.equal((await fetch(`${stack.apiUrl}/healthz`)).status, 200);
    assert.equal((await fetch(`${stack.apiUrl}/readyz`)).status, 200);
    assert.equal((await fetch(`${metricsUrl}/readyz`)).status, 200);
    assert.equal((await fetch(`${workerMetricsUrl}/healthz`)).status, 200);
    const ready = await fetch(`${workerMetricsUrl}/readyz`);
    assert.equal(ready.status, 200);
  });

  it('carries the request id of the HTTP call into the worker log lines', async () => {
    const requestId = `trace-${Date.now()}`;
    const response = await fetch(`${stack.apiUrl}/predictions/ag-news-bert`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': requestId },
      body: JSON.stringify({ data: ['Tennis star wins the open'] }),
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-request-id'), requestId);
    await eventually('the worker log line', () =>
      stack.workers[0].logs().find((l) => l.requestId === requestId),
    );
    const access = await eventually('the access log line', () =>
      stack.api.logs().find((l) => (l.req as { id?: string } | undefined)?.id === requestId),
    );
    assert.equal((access.res as { statusCode: number }).statusCode, 200);
    assert.ok(!JSON.stringify(stack.api.logs()).includes(MANAGEMENT_TOKEN), 'no token in the logs');
  });

  it('leaves the access-log line of a request its caller aborts, with status 499', async () => {
    const requestId = `aborted-${Date.now()}`;
    // The caller sends its headers, waits for the API to take the request (the 100 Continue it
    // answers once the request is in), then closes the connection without sending the body.
    await new Promise<void>((resolve, reject) => {
      const request = httpRequest(`${stack.apiUrl}/v1/predictions`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': '1000',
          expect: '100-continue',
          'x-request-id': requestId,
        },
      });
      request.on('continue', () => {
        request.destroy();
        resolve();
      });
      request.on('response', () => reject(new Error('answered before the body was sent')));
      request.on('error', () => undefined);
      request.flushHeaders();
    });
    const lines = () =>
      stack.api.logs().filter((l) => (l.req as { id?: string } | undefined)?.id === requestId);
    const access = await eventually('the access-log line of the aborted request', () =>
      lines().find((l) => l.res !== undefined),
    );
    assert.equal(access.msg, 'request aborted by the client');
    assert.equal((access.res as { statusCode: number }).statusCode, 499);
    assert.equal((access.req as { url: string }).url, '/v1/predictions');
    const metrics = await (await fetch(`${metricsUrl}/metrics`)).text();
    assert.ok(
      sample(metrics, 'modelfleet_http_requests_total', { transport: 'http', status: '499' })! >= 1,
    );
    // One line per request, even once the API has given up on the body.
    await stack.request('GET', '/ping');
    assert.equal(lines().filter((l) => l.res !== undefined).length, 1);
  });
});

describe('settings', () => {
  for (const [app, entry, env, key] of [
    ['API', 'apps/api/src/main.js', { API_PORT: 'eighty' }, 'API_PORT'],
    ['worker', 'apps/worker/src/main.js', { DEVICE: 'tpu' }, 'DEVICE'],
    ['API', 'apps/api/src/main.js', { REDIS_URL: 'localhost:6379' }, 'REDIS_URL'],
  ] as const) {
    it(`stops the ${app} at start with a message naming ${key}`, () => {
      const run = spawnSync(process.execPath, [join(ROOT, 'dist', entry)], {
        env: { ...process.env, ...env },
        encoding: 'utf8',
        timeout: 30_000,
      });
      assert.equal(run.status, 1);
      assert.match(run.stderr, new RegExp(`invalid settings:[\\s\\S]*${key}`));
    });
  }
});
