import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GrpcTestClient } from '../support/grpc-client';
import { NEWS_TEXTS } from '../support/predictions';
import { eventually } from '../support/processes';
import { ServeProcess, alive } from '../support/serve-process';

/** The sum of a metric's samples whose labels include `labels`, from Prometheus text. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .filter((line) => Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

const ROUTE = {
  app: 'inference',
  route: '/predictions/:model',
  method: 'POST',
  status: '200',
};

describe('modelfleet serve with API_PROCESSES=2: two API processes on the same ports', () => {
  let serve: ServeProcess;

  before(async () => {
    serve = await ServeProcess.start({ env: { API_PROCESSES: '2', ACCESS_LOG: 'true' } });
  });
  after(async () => {
    await serve?.stop();
  });

  const metricsUrl = () =>
    `http://127.0.0.1:${Number(serve.lines('API listening')[0].metricsPort)}/metrics`;
  const metrics = async () => (await fetch(metricsUrl())).text();

  it('starts both processes on the ports the API listening line names, gRPC included', async () => {
    const [listening] = serve.lines('API listening');
    assert.equal(listening.processes, 2);
    const processes = serve.lines('API process listening');
    assert.equal(processes.length, 2);
    assert.notEqual(processes[0].pid, processes[1].pid);
    for (const line of processes) {
      assert.equal(line.port, listening.port);
      assert.equal(line.managementPort, listening.managementPort);
      assert.equal(line.grpcPort, listening.grpcPort);
    }
    const torchServe = GrpcTestClient.torchServe(`127.0.0.1:${Number(listening.grpcPort)}`);
    try {
      const one = await torchServe.call('Predictions', {
        model_name: 'ag-news-bert',
        input: { data: Buffer.from(NEWS_TEXTS[0]) },
      });
      assert.equal(typeof JSON.parse((one.prediction as Buffer).toString()).label, 'number');
    } finally {
      torchServe.close();
    }
  });

  it('spreads connections over both, and /metrics adds up their counts without adding up what they read from Redis', async () => {
    const before = await metrics();
    const calls = 8;
    for (let i = 0; i < calls; i++) {
      // A connection each: the primary hands new connections to the processes in turn.
      const response = await fetch(`${serve.apiUrl}/predictions/ag-news-bert`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', connection: 'close' },
        body: JSON.stringify({ data: [NEWS_TEXTS[i % NEWS_TEXTS.length]] }),
      });
      assert.equal(response.status, 200, await response.text());
    }
    const answeredBy = new Set(
      serve
        .lines('request completed')
        .filter((l) => (l.req as { url?: string }).url === '/predictions/ag-news-bert')
        .map((l) => l.pid),
    );
    // The control: had one process answered them all, its own count would be the whole count.
    assert.equal(answeredBy.size, 2, 'both processes answered some of the calls');
    const now = await metrics();
    assert.equal(
      sample(now, 'modelfleet_http_requests_total', ROUTE) -
        sample(before, 'modelfleet_http_requests_total', ROUTE),
      calls,
      'every call counted once',
    );
    const replies = (text: string, outcome: string) =>
      sample(text, 'modelfleet_job_replies_total', { outcome });
    assert.equal(
      replies(now, 'awaited') - replies(before, 'awaited'),
      calls,
      'each answer reached the process that waited for it',
    );
    assert.equal(replies(now, 'unawaited'), replies(before, 'unawaited'));
    // Both processes read the same worker count from Redis: reported once, not twice.
    assert.equal(sample(now, 'modelfleet_workers', { model: 'ag-news-bert', version: '1' }), 1);
  });

  it('keeps the sums when a process is killed and restarted: no counter goes back (control: the killed one had counted calls)', async () => {
    const before = sample(await metrics(), 'modelfleet_http_requests_total', ROUTE);
    const [victim] = serve.lines('API process listening');
    // The control: the process killed answered calls counted in the sum, which would drop by
    // its share were its counts to leave with it.
    const answered = serve
      .lines('request completed')
      .filter(
        (l) =>
          l.pid === victim.pid && (l.req as { url?: string }).url === '/predictions/ag-news-bert',
      );
    assert.ok(answered.length > 0, 'the process killed had answered calls');
    process.kill(Number(victim.pid), 'SIGKILL');
    await eventually(
      'the killed API process to be restarted',
      () => (serve.lines('API process listening').length >= 3 ? true : undefined),
      120_000,
    );
    const after = sample(await metrics(), 'modelfleet_http_requests_total', ROUTE);
    assert.equal(after, before, 'the sum of calls answered went back when a process died');
  });

  it('stops both API processes before the workers on SIGTERM, and leaves no process', async () => {
    const pids = serve.allPids().filter(alive);
    const code = await serve.stop('SIGTERM');
    assert.equal(code, 0);
    assert.deepEqual(pids.filter(alive), []);
    const order = serve.process.logs().map((l) => `${String(l.service)}:${String(l.msg)}`);
    const apiStops = order.flatMap((step, i) => (step === 'api:stopping' ? [i] : []));
    assert.equal(apiStops.length, 2, 'each API process stopped');
    const workerStop = order.indexOf('worker:stopping: finishing jobs in hand');
    assert.ok(workerStop > Math.max(...apiStops), 'the API processes stop before the workers');
  });
});
