import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import type { Logger } from '@app/common';
import { RedisErrorLog } from './redis-error-log';

const refused = () =>
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });

/** A log whose lines are recorded as `level: message`, and a connection that can say it is ready. */
function harness() {
  const lines: string[] = [];
  const record = (level: string) => (_: unknown, message: string) =>
    lines.push(`${level}: ${message}`);
  const logger = {
    warn: record('warn'),
    info: record('info'),
    error: record('error'),
  } as unknown as Logger;
  const redis = new EventEmitter();
  return { log: new RedisErrorLog(logger, redis as unknown as Redis), lines, redis };
}

describe('RedisErrorLog', () => {
  it('logs an outage once, then its end', () => {
    const { log, lines, redis } = harness();
    for (let i = 0; i < 50; i++) log.report(refused(), 'queue worker error');
    redis.emit('ready');
    assert.equal(lines.length, 2);
    assert.match(lines[0], /^warn: Redis is unreachable/);
    assert.equal(lines[1], 'info: Redis answers again');
  });

  it('logs every other error as it comes, outage or not', () => {
    const { log, lines } = harness();
    log.report(refused(), 'queue worker error');
    log.report(new Error('ERR wrong'), 'queue worker error');
    log.report(new Error('ERR wrong'), 'queue worker error');
    assert.deepEqual(lines.slice(1), ['error: queue worker error', 'error: queue worker error']);
  });

  it('says nothing when a connection becomes ready without an outage', () => {
    const { lines, redis } = harness();
    redis.emit('ready');
    assert.deepEqual(lines, []);
  });
});
