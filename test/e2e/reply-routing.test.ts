import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { launchApi } from '../support/api-process';
import { eventually } from '../support/processes';
import { NEWS_TEXTS } from '../support/predictions';
import { MANAGEMENT_TOKEN, Stack } from '../support/stack';

type Api = ReturnType<typeof launchApi>;

/** Replies an API process read on its own reply channel, by outcome, from its `/metrics`. */
async function repliesRead(metricsPort: number): Promise<{ awaited: number; unawaited: number }> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const count = (outcome: string) =>
    Number(
      new RegExp(`modelfleet_job_replies_total\\{outcome="${outcome}"\\} (\\d+)`).exec(text)?.[1] ??
        0,
    );
  return { awaited: count('awaited'), unawaited: count('unawaited') };
}

describe('answers come back to the API process that waits, among several on one Redis', () => {
  let stack: Stack;
  let second: Api;
  let secondPorts: { port: number; metricsPort: number };
  let queue: Queue;
  const extra: Api[] = [];

  before(async () => {
    stack = await Stack.start();
    second = launchApi(stack.redis.url, { ...stack.environment, MANAGEMENT_TOKEN });
    extra.push(second);
    secondPorts = await second.listening();
    queue = stack.predictionQueue();
  });
  after(async () => {
    await Promise.all(extra.map((api) => api.stop()));
    await stack?.stop();
  });

  const firstMetricsPort = () => Number(new URL(stack.metricsUrl).port);
  const sync = (text: string, base: string) =>
    stack.request('POST', '/predictions/ag-news-bert', { data: [text] }, {}, base);

  it("answers each process's sync calls on its own channel, and no process reads another's", async () => {
    const secondUrl = `http://127.0.0.1:${secondPorts.port}`;
    const before = {
      first: await repliesRead(firstMetricsPort()),
      second: await repliesRead(secondPorts.metricsPort),
    };
    // One by one, so each call is a job of its own (no coalescing).
    for (const text of NEWS_TEXTS.slice(0, 3)) {
      const answer = await sync(text, stack.apiUrl);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
    }
    for (const text of NEWS_TEXTS.slice(0, 2)) {
      const answer = await sync(text, secondUrl);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
    }
    const first = await repliesRead(firstMetricsPort());
    const second = await repliesRead(secondPorts.metricsPort);
    assert.equal(first.awaited - before.first.awaited, 3, 'the first process read its 3 answers');
    assert.equal(
      second.awaited - before.second.awaited,
      2,
      "the second read its 2, not the first's",
    );
    assert.equal(first.unawaited, before.first.unawaited, 'and no stray reply reached either');
    assert.equal(second.unawaited, before.second.unawaited);
  });

  it('still answers, through the job state, a job whose reply channel names a process that is gone', async () => {
    const gone = launchApi(stack.redis.url, { ...stack.environment, MANAGEMENT_TOKEN });
    extra.push(gone);
    const gonePorts = await gone.listening();
    const body = { model: 'ag-news-bert', version: '1', input: { data: [NEWS_TEXTS[3]] } };
    const headers = { 'idempotency-key': 'reply-to-a-gone-process', prefer: 'wait=60' };
    await queue.pause();
    try {
      // The process that added the job waits for it; it dies before the job runs.
      const orphaned = stack
        .request('POST', '/v1/predictions', body, headers, `http://127.0.0.1:${gonePorts.port}`)
        .then(
          () => 'answered',
          () => 'connection lost',
        );
      const [waiting] = await eventually('the job queued', async () => {
        const jobs = await queue.getJobs(['wait', 'paused']);
        return jobs.length === 1 ? jobs : undefined;
      });
      assert.ok(waiting.data.replyTo, 'the job names the process waiting for it');
      await gone.api.stop('SIGKILL');
      assert.equal(await orphaned, 'connection lost');
      const repliesBefore = await repliesRead(firstMetricsPort());
      // The same call again, through another process: it waits on the job the first one added.
      const retried = stack.request('POST', '/v1/predictions', body, headers);
      await queue.resume();
      const answer = await retried;
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.status, 'succeeded');
      assert.equal(answer.body.id, waiting.id);
      const repliesAfter = await repliesRead(firstMetricsPort());
      assert.equal(
        repliesAfter.unawaited,
        repliesBefore.unawaited,
        "the gone process's reply reached nobody else",
      );
    } finally {
      await queue.resume();
    }
  });

  it('answers a call whose reply channel was cut while it waited', async () => {
    await queue.pause();
    const redis = new Redis(stack.redis.url);
    try {
      const call = sync(NEWS_TEXTS[0], stack.apiUrl);
      await eventually('the job queued', async () =>
        (await queue.getJobs(['wait', 'paused'])).length === 1 ? true : undefined,
      );
      // Every API process's subscriber connection is cut; each reconnects by itself.
      const cut = Number(await redis.client('KILL', 'TYPE', 'pubsub'));
      assert.ok(cut >= 2, `the reply channels of both processes were cut (${cut})`);
      await queue.resume();
      const answer = await call;
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.length, 1);
    } finally {
      await queue.resume();
      redis.disconnect();
    }
  });
});
