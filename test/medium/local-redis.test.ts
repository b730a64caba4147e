import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

  it('keeps an append-only file fsynced as asked, and refuses a second server on the same folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'modelfleet-local-redis-'));
    const first = await LocalRedis.start(dir, freePort, { appendfsync: 'always' });
    track(first.pid);
    try {
      const client = new Redis(first.url);
      try {
        assert.deepEqual(await client.config('GET', 'appendonly'), ['appendonly', 'yes']);
        assert.deepEqual(await client.config('GET', 'appendfsync'), ['appendfsync', 'always']);
      } finally {
        client.disconnect();
      }
      await assert.rejects(
        LocalRedis.start(dir),
        new RegExp(`another redis-server \\(pid ${first.pid}\\) runs on`),
      );
    } finally {
      await first.stop();
      untrack(first.pid);
    }
    // Control: once the first has stopped, the folder is free again.
    const second = await LocalRedis.start(dir);
    track(second.pid);
    await second.stop();
    untrack(second.pid);
    rmSync(dir, { recursive: true, force: true });
  });
});
