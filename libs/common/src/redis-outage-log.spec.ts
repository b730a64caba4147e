import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import type { Logger } from './logger';
import { RedisOutageLog } from './redis-outage-log';

const refused = () =>
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });

/** A log whose lines are recorded as `level: message`, and connections that can fail and return. */
function harness(connections = 1) {
  const lines: string[] = [];
  const record = (level: string) => (_: unknown, message: string) =>
    lines.push(`${level}: ${message}`);
  const logger = {
    warn: record('warn'),
    info: record('info'),
    error: record('error'),
  } as unknown as Logger;
  const log = new RedisOutageLog(logger);
  const redis = Array.from({ length: connections }, () => new EventEmitter());
  for (const connection of redis) log.watch(connection as unknown as Redis);
  return { log, lines, redis };
}

describe('RedisOutageLog', () => {
  it('logs an outage once, then its end', () => {
    const { log, lines, redis } = harness();
    for (let i = 0; i < 50; i++) log.report(refused(), 'queue worker error');
    redis[0].emit('ready');
    assert.equal(lines.length, 2);
    assert.match(lines[0], /^warn: Redis is unreachable/);
    assert.equal(lines[1], 'info: Redis answers again');
  });

  it('hears the errors of the connections it watches', () => {
    const { lines, redis } = harness();
    for (let i = 0; i < 20; i++) redis[0].emit('error', refused());
    redis[0].emit('ready');
    assert.equal(lines.length, 2);
    assert.match(lines[0], /^warn: Redis is unreachable/);
  });

  it('ends an outage once every connection that lost Redis is back', () => {
    const { lines, redis } = harness(2);
    redis[0].emit('error', refused());
    redis[1].emit('error', refused());
    redis[0].emit('ready');
    assert.equal(lines.length, 1, 'one connection is still away');
    redis[1].emit('error', refused());
    redis[1].emit('ready');
    assert.deepEqual(lines.slice(1), ['info: Redis answers again']);
  });

  it('logs every other error as it comes, outage or not', () => {
    const { log, lines, redis } = harness();
    log.report(refused(), 'queue worker error');
    log.report(new Error('ERR wrong'), 'queue worker error');
    redis[0].emit('error', new Error('ERR wrong'));
    assert.deepEqual(lines.slice(1), [
      'error: queue worker error',
      'error: Redis connection error',
    ]);
  });

  it('says nothing when a connection becomes ready without an outage', () => {
    const { lines, redis } = harness();
    redis[0].emit('ready');
    assert.deepEqual(lines, []);
  });
});
