import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { loadApiConfig } from '../../apps/api/src/config';
import { loadWorkerConfig } from '../../apps/worker/src/config';
import { ROOT } from '../support/paths';
import { AppProcess } from '../support/processes';
import { launchApi } from '../support/api-process';
import { startTestRedis, type TestRedis } from '../support/redis-server';

/**
 * Whether a TCP connection to `host:port` is accepted. 127.0.0.2 is loopback too, but a socket
 * bound to 127.0.0.1 does not answer on it, while one bound to 0.0.0.0 does: it tells, on this
 * host alone, whether a port listens on one interface or on all of them.
 */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

interface Listening {
  process: { stop(): Promise<unknown> };
  ports: number[];
}

async function startApi(redis: TestRedis, env: Record<string, string>): Promise<Listening> {
  const launched = launchApi(redis.url, {
    MANAGEMENT_TOKEN: 'interfaces-test-token-0123456789',
    ...env,
  });
  const ports = await launched.listening();
  return {
    process: { stop: () => launched.stop() },
    ports: [ports.port, ports.managementPort, ports.metricsPort, ports.grpcPort],
  };
}

async function startWorker(redis: TestRedis, env: Record<string, string>): Promise<Listening> {
  const worker = AppProcess.start('worker', 'apps/worker/src/main.js', {
    REDIS_URL: redis.url,
    WORKER_MODELS: 'none@0',
    WORKER_METRICS_PORT: '0',
    ...env,
  });
  const started = await worker.waitForLog('worker started');
  return { process: worker, ports: [Number(started.opsPort)] };
}

describe('default interfaces', () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startTestRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  it('default to 127.0.0.1 in the settings of the API and the worker', () => {
    assert.equal(loadApiConfig({}).API_HOST, '127.0.0.1');
    assert.equal(loadWorkerConfig({}).WORKER_METRICS_HOST, '127.0.0.1');
  });

  for (const [name, start] of [
    ['the API (inference, management, metrics, gRPC)', startApi],
    ["the worker's metrics", startWorker],
  ] as const) {
    it(`${name} listens on loopback only by default`, async () => {
      const { process, ports } = await start(redis, {});
      try {
        for (const port of ports) {
          assert.ok(await accepts('127.0.0.1', port), `port ${port} does not listen at all`);
          assert.ok(!(await accepts('127.0.0.2', port)), `port ${port} listens beyond 127.0.0.1`);
        }
      } finally {
        await process.stop();
      }
    });
  }

  // Control: opened explicitly, the same ports answer on another address, so the check can fail.
  it('listens on every interface when a deployment sets 0.0.0.0', async () => {
    const api = await startApi(redis, { API_HOST: '0.0.0.0' });
    const worker = await startWorker(redis, { WORKER_METRICS_HOST: '0.0.0.0' });
    try {
      for (const port of [...api.ports, ...worker.ports])
        assert.ok(await accepts('127.0.0.2', port), `port ${port} is not open on 127.0.0.2`);
    } finally {
      await Promise.all([api.process.stop(), worker.process.stop()]);
    }
  });

  it('docker-compose and the Kubernetes manifests open the interfaces explicitly', () => {
    const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true });
    assert.equal(compose.services.api.environment.API_HOST, '0.0.0.0');
    assert.equal(compose.services.worker.environment.WORKER_METRICS_HOST, '0.0.0.0');
    const config = parseAllDocuments(
      readFileSync(join(ROOT, 'deploy', 'k8s', '11-configmap.yaml'), 'utf8'),
    )[0].toJS();
    assert.equal(config.data.API_HOST, '0.0.0.0');
    assert.equal(config.data.WORKER_METRICS_HOST, '0.0.0.0');
  });
});
