import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '@app/common';
import { loadWorkerConfig } from '../config';
import { DeathWindow } from '../faults/death-window';
import type { ConsumerContext } from '../consumer/consumer-context';
import { WorkerMetrics } from '../worker-metrics';
import type { InferencePool } from './inference-pool';
import { ThreadRecovery } from './thread-recovery';

const settle = () => new Promise((resolve) => setTimeout(resolve, 30));

/** A recovery over fake steps that record what it did; `starts` says how each restart ends. */
function harness(starts: ('ok' | 'fail')[], deathLimit = 3) {
  const config = loadWorkerConfig({ LOAD_RETRY_MS: '10', THREAD_DEATH_LIMIT: String(deathLimit) });
  const events: string[] = [];
  const context = {
    config,
    metrics: new WorkerMetrics(),
    deaths: new DeathWindow(config.THREAD_DEATH_LIMIT, config.THREAD_DEATH_WINDOW_MS),
    servingChanged: () => events.push(`serving changed (${recovery.down ? 'down' : 'up'})`),
    fatal: (error: Error) => events.push(`fatal: ${error.message}`),
  } as unknown as ConsumerContext;
  const recovery: ThreadRecovery = new ThreadRecovery(
    { model: 'm', version: '1' },
    context,
    createLogger('test', 'silent'),
    {
      handBack: async () => (events.push('hand back'), 2),
      restart: async () => {
        events.push('restart');
        if (starts.shift() === 'fail') throw new Error('will not start');
        return { close: async () => undefined } as InferencePool;
      },
      resume: () => events.push('resume'),
      closing: () => false,
    },
  );
  return { recovery, events };
}

describe('ThreadRecovery', () => {
  it('stops serving, hands jobs back, restarts the thread and serves again', async () => {
    const { recovery, events } = harness(['ok']);
    recovery.threadDied(new Error('exited'));
    assert.match(recovery.down!, /inference thread died \(exited\)/);
    await settle();
    assert.deepEqual(events, [
      'serving changed (down)',
      'hand back',
      'restart',
      'resume',
      'serving changed (up)',
    ]);
    assert.equal(recovery.down, undefined);
  });

  it('retries a restart that fails, counting it as a death', async () => {
    const { recovery, events } = harness(['fail', 'ok']);
    recovery.threadDied(new Error('exited'));
    await settle();
    assert.deepEqual(events.slice(1), [
      'hand back',
      'restart',
      'restart',
      'resume',
      'serving changed (up)',
    ]);
  });

  it('gives up at the death limit: jobs are handed back, nothing restarts, the process is told', async () => {
    const { recovery, events } = harness(['fail', 'ok'], 2);
    recovery.threadDied(new Error('exited'));
    await settle();
    assert.deepEqual(events.slice(1, 3), ['hand back', 'restart']);
    assert.match(
      events[3],
      /^fatal: inference threads died 2 times within 60000 ms \(last: will not start\)/,
    );
    assert.equal(events.length, 4);
    assert.ok(recovery.down);
  });

  it('recovers again when the new thread dies before the recovery ends', async () => {
    const { recovery, events } = harness(['ok', 'ok']);
    recovery.threadDied(new Error('exited'));
    recovery.threadDied(new Error('the new one exited too'));
    await settle();
    assert.equal(events.filter((e) => e === 'resume').length, 2);
    assert.equal(recovery.down, undefined);
  });
});
