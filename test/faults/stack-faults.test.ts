import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fragileStore } from '../support/fragile-package';
import { demoModelStore } from '../support/model-store';
import { eventually } from '../support/processes';
import { TestRedis } from '../support/redis-server';
import { Stack } from '../support/stack';
import { Traffic } from './traffic';
import { assertNothingLost, printReports, type TrafficReport } from './traffic-report';

/**
 * Faults of a running stack (API, worker, Redis) under a steady stream of async creates and sync
 * calls: Redis paused, the inference thread dying, a bad package in the store. After each, every
 * accepted job has reached exactly one terminal state; the table is printed at the end.
 */
describe('faults of a running stack, under traffic', () => {
  const reports: TrafficReport[] = [];

  after(() => printReports(reports));

  async function underTraffic(
    stack: Stack,
    fault: string,
    model: string,
    inject: () => Promise<void>,
  ): Promise<TrafficReport> {
    const traffic = Traffic.start({ apiUrl: stack.apiUrl, model, maxDurationMs: 8_000 });
    await eventually('traffic to flow', () => (traffic.acceptedSoFar >= 5 ? true : undefined));
    traffic.faultBegins();
    await inject();
    traffic.faultEnds();
    const report = await traffic.settle(fault, { apiUrl: stack.apiUrl, redisUrl: stack.redis.url });
    reports.push(report);
    assertNothingLost(report);
    return report;
  }

  it('Redis paused (SIGSTOP) for 5 s: requests are refused or wait, none accepted is lost', async () => {
    const redis = await TestRedis.start();
    const stack = await Stack.start({ redis });
    try {
      await underTraffic(stack, 'Redis paused (SIGSTOP) 5 s', 'ag-news-bert', async () => {
        process.kill(redis.pid, 'SIGSTOP');
        await new Promise((r) => setTimeout(r, 5_000));
        process.kill(redis.pid, 'SIGCONT');
      });
    } finally {
      process.kill(redis.pid, 'SIGCONT');
      await stack.stop();
    }
  });

  it('the inference thread dies mid-load: the worker restarts it, none accepted is lost', async () => {
    const fragile = fragileStore();
    const stack = await Stack.start({
      modelStore: fragile.store,
      env: { ALLOW_PACKAGE_CODE: 'true' },
    });
    try {
      const report = await underTraffic(stack, 'inference thread death', 'fragile', async () => {
        fragile.on('die');
        await new Promise((r) => setTimeout(r, 3_000));
      });
      assert.equal(report.failed, 0, 'a death costs no job its answer');
    } finally {
      await stack.stop();
      fragile.remove();
    }
  });

  it('a bad package in the store: the others serve, none accepted is lost', async () => {
    const store = demoModelStore([{ version: '1' }]);
    writeFileSync(join(store, 'broken.tar.gz'), 'not an archive');
    const stack = await Stack.start({ modelStore: store });
    try {
      await underTraffic(stack, 'a bad package in the store', 'ag-news-bert', async () => {
        // The fault is in place from the start: traffic simply runs beside it.
        await new Promise((r) => setTimeout(r, 2_000));
      });
    } finally {
      await stack.stop();
    }
  });
});
