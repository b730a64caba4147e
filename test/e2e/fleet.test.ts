import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Redis } from 'ioredis';
import { after, before, describe, it } from 'node:test';
import { demoModelStore } from '../support/model-store';
import { AppProcess, eventually } from '../support/processes';
import { Stack } from '../support/stack';
import { agNewsSample } from '../support/texts';

const V2_LABELS = ['v2-World', 'v2-Sports', 'v2-Business', 'v2-Sci/Tech'];

describe('registry, management API and traffic', () => {
  let stack: Stack;

  before(async () => {
    // Two versions of the demo model that answer differently: version 2 renames the labels.
    const store = demoModelStore([{ version: '1' }, { version: '2', labels: V2_LABELS }]);
    stack = await Stack.start({ modelStore: store, env: { MODELS: 'ag-news-bert-v1' } });
  });
  after(() => stack?.stop());

  it('refuses management calls without the token', async () => {
    const response = await stack.request('GET', '/models', undefined, {}, stack.managementUrl);
    assert.equal(response.status, 401);
    assert.equal(response.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    const wrong = await stack.request(
      'GET',
      '/models',
      undefined,
      { authorization: 'Bearer nope' },
      stack.managementUrl,
    );
    assert.equal(wrong.status, 401);
  });

  it('registers a package from the model store only', async () => {
    const outside = await stack.manage('POST', '/models?url=/etc/passwd');
    assert.equal(outside.status, 400);
    assert.match(outside.body.detail, /not a package in the model store/);
    const registered = await stack.manage(
      'POST',
      '/models?url=ag-news-bert-v2&batch_size=32&max_batch_delay=2',
    );
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    const described = await stack.manage('GET', '/models/ag-news-bert/2');
    assert.equal(described.body[0].batchSize, 32);
    assert.equal(described.body[0].maxBatchDelay, 2);
    assert.equal(described.body[0].isDefault, false);
    const list = await stack.manage('GET', '/models');
    assert.deepEqual(list.body.models[0].versions.sort(), ['1', '2']);
  });

  it('splits traffic 90/10 within four standard deviations over 1,000 requests', async () => {
    await stack.versionServed('ag-news-bert', '2');
    const split = await stack.manage('PUT', '/models/ag-news-bert/traffic', { '1': 90, '2': 10 });
    assert.equal(split.status, 200, JSON.stringify(split.body));
    await new Promise((r) => setTimeout(r, 1100)); // the API caches model records for a second
    let toV2 = 0;
    const texts = agNewsSample(8);
    for (let batch = 0; batch < 1000; batch += 50) {
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          stack.request('POST', '/predictions/ag-news-bert', {
            data: [texts[(batch + i) % texts.length]],
          }),
        ),
      );
      for (const answer of answers) {
        assert.equal(answer.status, 200);
        if (answer.body[0].label_name.startsWith('v2-')) toV2++;
      }
    }
    // Binomial(1000, 0.1): mean 100, standard deviation 9.5.
    assert.ok(Math.abs(toV2 - 100) <= 38, `${toV2} of 1000 went to version 2`);
    const cleared = await stack.manage('PUT', '/models/ag-news-bert/traffic', {});
    assert.equal(cleared.status, 200, JSON.stringify(cleared.body));
  });

  it('refuses a split for a model that is not registered, and writes nothing', async () => {
    const redis = new Redis(stack.redis.url);
    try {
      // The empty split names no version: only the model's own check can refuse it.
      for (const split of [{}, { '1': 100 }]) {
        const refused = await stack.manage('PUT', '/models/no-such-model/traffic', split);
        assert.equal(refused.status, 404, JSON.stringify(refused.body));
      }
      assert.deepEqual(await redis.keys('*no-such-model*'), []);
    } finally {
      redis.disconnect();
    }
  });

  it('switches the default version and unregisters the old one under traffic with no failed request', async () => {
    const texts = agNewsSample(16);
    let running = true;
    const outcomes: number[] = [];
    const labels = new Set<string>();
    const traffic = Promise.all(
      Array.from({ length: 4 }, async (_, client) => {
        for (let i = client; running; i += 4) {
          const response = await stack.request('POST', '/predictions/ag-news-bert', {
            data: [texts[i % texts.length]],
          });
          outcomes.push(response.status);
          if (response.status === 200) labels.add(response.body[0].label_name);
        }
      }),
    );
    // Each step waits for answers, not for a time: on a loaded machine a second may hold none.
    const answers = (count: number) => {
      const target = outcomes.length + count;
      return eventually(
        `${count} more answers`,
        () => (outcomes.length >= target ? true : undefined),
        120_000,
      );
    };
    await answers(10);
    assert.equal((await stack.manage('PUT', '/models/ag-news-bert/2/set-default')).status, 200);
    // Version 2 answers once the API's cached record (a second) has expired.
    await eventually(
      'version 2 to answer',
      () => ([...labels].some((l) => l.startsWith('v2-')) ? true : undefined),
      120_000,
    );
    const removed = await stack.manage('DELETE', '/models/ag-news-bert/1');
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    await answers(10);
    running = false;
    await traffic;
    assert.ok(outcomes.length > 20, `${outcomes.length} requests`);
    assert.deepEqual(
      outcomes.filter((s) => s !== 200),
      [],
      'every request succeeded',
    );
    assert.ok(
      [...labels].some((l) => l.startsWith('v2-')),
      'version 2 answered after the switch',
    );
    const gone = await stack.manage('GET', '/models/ag-news-bert/1');
    assert.equal(gone.status, 404);
  });

  it('refuses to unregister the default version while others exist', async () => {
    await stack.manage('POST', '/models?url=ag-news-bert-v1');
    const refused = await stack.manage('DELETE', '/models/ag-news-bert/2');
    assert.equal(refused.status, 409);
  });

  it('says why a version has no worker, and scales its desired range', async () => {
    const worker = stack.workers[0];
    await worker.stop('SIGTERM');
    const described = await eventually(
      'the version to lose its worker',
      async () => {
        const d = await stack.manage('GET', '/models/ag-news-bert/2');
        return d.body[0].status === 'NO_WORKERS' ? d.body[0] : undefined;
      },
      30_000,
      250,
    );
    assert.match(described.reason, /async jobs wait/);
    // TorchServe's answer: the workers change asynchronously (202); the range is recorded.
    const scaled = await stack.manage('PUT', '/models/ag-news-bert?min_worker=2&max_worker=3');
    assert.equal(scaled.status, 202);
    assert.equal(scaled.body.status, 'Processing worker updates...');
    const range = (await stack.manage('GET', '/models/ag-news-bert/2')).body[0];
    assert.equal(range.minWorkers, 2);
    assert.equal(range.maxWorkers, 3);
    const bad = await stack.manage('PUT', '/models/ag-news-bert?min_worker=4&max_worker=1');
    assert.equal(bad.status, 400);
  });
});

describe('autoscaling supervisor', () => {
  let stack: Stack;
  let supervisor: AppProcess;

  before(async () => {
    stack = await Stack.start({ workers: 0, waitHealthy: false });
  });
  after(async () => {
    await supervisor?.stop();
    await stack?.stop();
  });

  it('scales from 1 to 2 workers under a backlog and back to 1 when idle', async () => {
    await stack.manage('PUT', '/models/ag-news-bert?min_worker=1&max_worker=2');
    // Without INTRA_OP_THREADS, serve shares the cores among the version's two workers.
    const { INTRA_OP_THREADS, ...environment } = stack.environment;
    assert.ok(INTRA_OP_THREADS, 'the stack sets it for its own workers (control)');
    supervisor = AppProcess.start(
      'supervisor',
      'apps/cli/src/main.js',
      {
        ...environment,
        SCALE_UP_BACKLOG: '5',
        SCALE_UP_WAIT_MS: '100000',
        SCALE_DOWN_IDLE_MS: '1500',
        SCALE_COOLDOWN_MS: '500',
        SUPERVISOR_POLL_MS: '200',
      },
      ['serve', '--no-api'],
    );
    const workersOf = async () =>
      (await stack.manage('GET', '/models/ag-news-bert/1')).body[0].workers.length as number;
    await eventually(
      'one worker',
      async () => ((await workersOf()) === 1 ? true : undefined),
      60_000,
      200,
    );
    const started = supervisor
      .logs()
      .find((l) => l.msg === 'started process' && String(l.child).startsWith('worker'))!;
    const workerEnv = readFileSync(`/proc/${Number(started.childPid)}/environ`, 'utf8').split('\0');
    assert.ok(
      workerEnv.includes(`INTRA_OP_THREADS=${Math.max(1, Math.floor(availableParallelism() / 2))}`),
      workerEnv.filter((v) => v.startsWith('INTRA_OP')).join(', ') || 'no INTRA_OP_THREADS',
    );
    const texts = agNewsSample(128);
    const queued = Array.from({ length: 400 }, () =>
      stack.request('POST', '/v1/predictions', { model: 'ag-news-bert', input: { data: texts } }),
    );
    await eventually(
      'a second worker',
      async () => ((await workersOf()) === 2 ? true : undefined),
      60_000,
      200,
    );
    await Promise.all(queued);
    await eventually(
      'back to one worker',
      async () => ((await workersOf()) === 1 ? true : undefined),
      120_000,
      250,
    );
  });
});
