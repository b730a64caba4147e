import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { LocalRedis, freePort } from '@app/common';
import { track, untrack } from '../support/children';
import { TestRedis } from '../support/redis-server';

describe('LocalRedis', () => {
  let other: TestRedis;

  before(async () => {
    other = await TestRedis.start();
  });
  after(() => other?.stop());

  it('starts on another port when the one it picked is taken, and never takes another Redis for its own', async () => {
    const taken = Number(new URL(other.url).port);
    const picks: number[] = [];
    const redis = await LocalRedis.start(undefined, async () => {
      picks.push(picks.length === 0 ? taken : await freePort());
      return picks.at(-1)!;
    });
    track(redis.pid);
    try {
      assert.equal(picks.length, 2, 'a second pick after the port in use');
      assert.equal(redis.port, picks[1]);
      const client = new Redis(redis.url);
      try {
        const info = await client.info('server');
        assert.equal(Number(/^process_id:(\d+)/m.exec(info)?.[1]), redis.pid);
      } finally {
        client.disconnect();
      }
    } finally {
      await redis.stop();
      untrack(redis.pid);
    }
  });
});
