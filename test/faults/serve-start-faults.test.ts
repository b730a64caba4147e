import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { freePort } from '@app/common';
import { TestRedis } from '../support/redis-server';
import { eventually } from '../support/processes';
import { ServeProcess, alive } from '../support/serve-process';

/** serve's own lines that are not JSON logs: what a person at the terminal reads. */
const plainLines = (serve: ServeProcess) =>
  serve.process.output.filter((line) => !line.startsWith('{'));

describe('serve when something cannot start', () => {
  const started: ServeProcess[] = [];
  const launch = (env: Record<string, string>) => {
    const serve = ServeProcess.launch({ env: { RESTART_BACKOFF_MS: '200', ...env } });
    started.push(serve);
    return serve;
  };
  after(async () => {
    for (const serve of started) await serve.stop();
  });

  it('stops with the API’s message and a non-zero exit when the API fails at every start', async () => {
    const serve = launch({ API_PORT: 'abc' });
    assert.equal(await serve.exited(), 1);
    const said = plainLines(serve).join('\n');
    assert.match(said, /api could not start \(3 tries in a row\)/);
    assert.match(said, /API_PORT/, 'the API’s own message names the bad setting');
    assert.equal(serve.childPids('api').length, 3);
    assert.deepEqual(serve.childPids('worker'), [], 'no worker starts before the API');
    assert.deepEqual(serve.allPids().filter(alive), [], 'no process is left, Redis included');
  });

  it('stops the same way when a worker fails at every start, once the API runs (control: the API started)', async () => {
    const serve = launch({ WORKER_CONCURRENCY: '0' });
    assert.equal(await serve.exited(), 1);
    assert.equal(serve.lines('API listening').length, 1);
    const said = plainLines(serve).join('\n');
    assert.match(said, /worker ag-news-bert@1 w1 could not start \(3 tries in a row\)/);
    assert.match(said, /WORKER_CONCURRENCY/);
    assert.deepEqual(serve.allPids().filter(alive), []);
  });
});

describe('serve with an external Redis', () => {
  let redis: TestRedis;
  const started: ServeProcess[] = [];
  before(async () => {
    redis = await TestRedis.start();
  });
  after(async () => {
    for (const serve of started) await serve.stop();
    await redis?.stop();
  });

  it('says in one line that REDIS_URL is unreachable and exits non-zero', async () => {
    // A port the OS just handed out and nobody listens on.
    const url = `redis://:secret-password@127.0.0.1:${await freePort()}`;
    const serve = ServeProcess.launch({ env: { REDIS_URL: url } });
    started.push(serve);
    assert.equal(await serve.exited(30_000), 1);
    assert.equal(serve.process.output.length, 1, serve.process.output.join('\n'));
    assert.match(
      serve.process.output[0],
      /^modelfleet: cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+: /,
    );
    assert.doesNotMatch(serve.process.output[0], /secret-password/);
    assert.deepEqual(serve.childPids(''), [], 'nothing was started');
  });

  it('serves on a reachable REDIS_URL and starts no Redis of its own (control)', async () => {
    const serve = await ServeProcess.start({ env: { REDIS_URL: redis.url } });
    started.push(serve);
    assert.deepEqual(serve.lines('started a local redis-server'), []);
  });
});

describe('serve killed with SIGKILL', () => {
  const started: ServeProcess[] = [];
  after(async () => {
    for (const serve of started) await serve.stop();
  });

  it('takes its API and workers with it, and the next serve refuses the Redis it left running', async () => {
    const serve = await ServeProcess.start();
    started.push(serve);
    const children = serve.childPids('');
    assert.ok(children.length >= 2, 'an API and a worker run');
    serve.process.child.kill('SIGKILL');
    await serve.process.waitForExit();
    await eventually(
      'its children to stop (their lifeline to serve is cut)',
      () => (children.filter(alive).length === 0 ? true : undefined),
      60_000,
    );
    assert.ok(alive(serve.redisPid), 'its Redis, outside its group, still runs');
    const next = ServeProcess.launch({ dataDir: serve.dataDir });
    started.push(next);
    assert.equal(await next.exited(30_000), 1);
    assert.match(
      next.process.output.join('\n'),
      new RegExp(`another redis-server \\(pid ${serve.redisPid}\\) runs on`),
    );
  });
});
