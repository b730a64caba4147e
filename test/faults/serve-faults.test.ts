import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { predictionQueueName } from '@app/common';
import { demoModelStore } from '../support/model-store';
import { eventually } from '../support/processes';
import { ServeProcess, alive } from '../support/serve-process';
import { Traffic, type TrafficOptions } from './traffic';
import { assertNothingLost, printReports, type TrafficReport } from './traffic-report';

/**
 * Faults of a running `modelfleet serve` under a steady stream of async creates and sync calls:
 * each kills one of its processes (or stops it with Ctrl-C) and checks that every accepted job
 * reached exactly one terminal state. The tests share one serve and run in order; the last one
 * stops it.
 */
describe('faults under modelfleet serve', () => {
  const reports: TrafficReport[] = [];
  const store = demoModelStore([{ version: '1' }]);
  const dataDir = mkdtempSync(join(tmpdir(), 'modelfleet-faults-redis-'));
  const env = {
    // A dead worker's jobs come back within seconds rather than the default 30 s.
    LOCK_DURATION_MS: '2000',
    STALLED_INTERVAL_MS: '1000',
    RESTART_BACKOFF_MS: '500',
    SHUTDOWN_GRACE_MS: '15000',
  };
  let serve: ServeProcess;
  let restarted: ServeProcess | undefined;

  before(async () => {
    serve = await ServeProcess.start({ modelStore: store, dataDir, env });
  });
  after(async () => {
    printReports(reports);
    await serve?.stop();
    await restarted?.stop();
    rmSync(store, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Traffic against serve's API, once it is flowing (some requests accepted). */
  async function flowingTraffic(
    options: Partial<TrafficOptions> = {},
    acceptedFirst = 10,
  ): Promise<Traffic> {
    const traffic = Traffic.start({ apiUrl: serve.apiUrl, maxDurationMs: 8_000, ...options });
    await eventually('traffic to flow', () =>
      traffic.acceptedSoFar >= acceptedFirst ? true : undefined,
    );
    return traffic;
  }

  async function settle(fault: string, traffic: Traffic, server = serve): Promise<TrafficReport> {
    const report = await traffic.settle(fault, {
      apiUrl: server.apiUrl,
      redisUrl: server.redisUrl,
    });
    reports.push(report);
    return report;
  }

  it('restarts a SIGKILLed API on the same ports; only the gap refuses requests and no accepted job is lost', async () => {
    const traffic = await flowingTraffic();
    const [victim] = serve.childPids('api');
    traffic.faultBegins();
    process.kill(victim, 'SIGKILL');
    await eventually('a new API process', () =>
      serve.childPids('api').length === 2 ? true : undefined,
    );
    await serve.waitHealthy();
    traffic.faultEnds();
    const report = await settle('API SIGKILL under serve', traffic);
    assertNothingLost(report);
    assert.equal(report.refusedOutside, 0, 'requests are refused only while the API is down');
    const [first, second] = await eventually('the new API’s ports', () => {
      const lines = serve.lines('API listening');
      return lines.length === 2 ? lines : undefined;
    });
    assert.equal(second.port, first.port, 'the new API listens where the old one did');
  });

  it('redelivers the jobs of a worker SIGKILLed mid-batch (stalled-job recovery) and restarts it', async () => {
    const queue = new Queue(predictionQueueName('ag-news-bert', '1'), {
      connection: { url: serve.redisUrl },
      prefix: 'mf',
    });
    try {
      const traffic = await flowingTraffic({ textsPerRequest: 32 });
      await eventually(
        'a job in a worker’s hands',
        async () => ((await queue.getActiveCount()) > 0 ? true : undefined),
        30_000,
        5,
      );
      const [victim] = serve.childPids('worker');
      traffic.faultBegins();
      process.kill(victim, 'SIGKILL');
      await eventually('a new worker process', () =>
        serve.childPids('worker').length === 2 ? true : undefined,
      );
      await serve.waitHealthy();
      traffic.faultEnds();
      const report = await settle('worker SIGKILL mid-batch', traffic);
      assertNothingLost(report);
      assert.equal(report.refusedOutside, 0);
    } finally {
      await queue.close();
    }
  });

  it('restarts its Redis after a SIGKILL on the same port from the append-only file, and loses no accepted job', async () => {
    const traffic = await flowingTraffic();
    const victim = serve.redisPid;
    traffic.faultBegins();
    process.kill(victim, 'SIGKILL');
    await eventually('a new redis-server', () =>
      serve.lines('restarted the local redis-server').length === 1 ? true : undefined,
    );
    assert.notEqual(serve.redisPid, victim);
    await serve.waitHealthy();
    traffic.faultEnds();
    const report = await settle('Redis SIGKILL, restarted with AOF', traffic);
    assertNothingLost(report);
  });

  it('stops in order within the grace period on Ctrl-C, leaves no process, and every accepted job finishes', async () => {
    const traffic = await flowingTraffic({}, 60);
    const pids = serve.allPids().filter(alive);
    assert.ok(pids.length >= 3, `API, worker and Redis run: ${pids.join(', ')}`);
    traffic.faultBegins();
    // What a terminal does on Ctrl-C: SIGINT to the whole foreground process group.
    process.kill(-serve.process.child.pid!, 'SIGINT');
    const code = await Promise.race([
      serve.process.waitForExit(),
      new Promise<string>((r) => setTimeout(() => r('still running'), 60_000).unref()),
    ]);
    await traffic.stop();
    traffic.faultEnds();
    assert.equal(code, 0, 'serve exits 0 after a clean stop');
    assert.deepEqual(pids.filter(alive), [], 'no process of serve is left');
    const order = serve.process.logs().map((l) => `${String(l.service)}:${String(l.msg)}`);
    const steps = [
      'api:stopping',
      'worker:stopping: finishing jobs in hand',
      'worker:stopped',
      'supervisor:stopped the local redis-server',
    ].map((step) => order.indexOf(step));
    assert.ok(steps[0] >= 0, 'the API was told to stop');
    assert.deepEqual(
      [...steps].sort((a, b) => a - b),
      steps,
      'the API stops, then the workers, then Redis',
    );
    const stopped = serve.process
      .logs()
      .find((l) => l.service === 'supervisor' && l.msg === 'stopped');
    assert.equal(stopped?.clean, true, 'nothing had to be killed');
    // The jobs still queued wait in the append-only file for the next start.
    restarted = await ServeProcess.start({ modelStore: store, dataDir, env });
    const report = await settle('Ctrl-C of serve, then a new start', traffic, restarted);
    assertNothingLost(report);
  });
});

describe('faults under modelfleet serve with several API processes (API_PROCESSES=2)', () => {
  const reports: TrafficReport[] = [];
  const env = {
    API_PROCESSES: '2',
    LOCK_DURATION_MS: '2000',
    STALLED_INTERVAL_MS: '1000',
    RESTART_BACKOFF_MS: '500',
  };
  let serve: ServeProcess;

  before(async () => {
    serve = await ServeProcess.start({ env });
  });
  after(async () => {
    printReports(reports);
    await serve?.stop();
  });

  it('SIGKILL of one API process: its callers get an error, every job reaches one terminal state, the other keeps serving', async () => {
    const queue = new Queue(predictionQueueName('ag-news-bert', '1'), {
      connection: { url: serve.redisUrl },
      prefix: 'mf',
    });
    try {
      const traffic = Traffic.start({ apiUrl: serve.apiUrl, maxDurationMs: 10_000 });
      await eventually('traffic to flow', () => (traffic.acceptedSoFar >= 10 ? true : undefined));
      const [victim, survivor] = serve.lines('started API process').map((l) => Number(l.childPid));
      // Sync callers wait in both processes (each new connection goes to the next process).
      await queue.pause();
      await eventually('sync callers waiting', async () =>
        (await queue.getJobCounts('paused', 'wait')).paused >= 6 ? true : undefined,
      );
      traffic.faultBegins();
      process.kill(victim, 'SIGKILL');
      await eventually('the killed API process restarted and listening', () =>
        serve.lines('API process listening').length === 3 ? true : undefined,
      );
      await queue.resume();
      traffic.faultEnds();
      const report = await traffic.settle('one of 2 API processes SIGKILLed', {
        apiUrl: serve.apiUrl,
        redisUrl: serve.redisUrl,
      });
      reports.push(report);
      assertNothingLost(report);
      assert.equal(report.refusedOutside, 0, 'requests fail only while the process is down');
      assert.ok(report.acceptedDuringFault > 0, 'the other process served meanwhile');
      const lostConnection = Object.keys(report.refusals).filter((a) => !/^\d+$/.test(a));
      assert.ok(
        lostConnection.length > 0,
        'the callers waiting on the killed process got an error',
      );
      assert.ok(alive(survivor), 'the other process was not restarted');
      assert.equal(serve.lines('API listening').length, 1, 'the API as a whole did not restart');
      // Jobs whose caller lost its connection with the process finish too: nothing is left over.
      await eventually('every job of the queue finished', async () => {
        const counts = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized');
        return Object.values(counts).every((n) => n === 0) ? true : undefined;
      });
    } finally {
      await queue.resume();
      await queue.close();
    }
  });
});
