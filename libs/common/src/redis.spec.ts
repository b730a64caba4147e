import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRedisUnavailable } from './redis';

/** An error as ioredis gives a Redis error reply (its name is what tells it apart). */
const reply = (message: string) => Object.assign(new Error(message), { name: 'ReplyError' });

describe('isRedisUnavailable', () => {
  it('counts the replies of a server mid-failover as Redis away (a 503, not a 500)', () => {
    for (const message of [
      "READONLY You can't write against a read only replica.",
      'LOADING Redis is loading the dataset in memory',
      'MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to no',
      'CLUSTERDOWN The cluster is down',
    ])
      assert.equal(isRedisUnavailable(reply(message)), true, message);
    assert.equal(
      isRedisUnavailable(
        new Error('All sentinels are unreachable. Retrying from scratch after 10ms.'),
      ),
      true,
    );
  });

  it('not a reply that says the command itself is wrong (the control)', () => {
    assert.equal(
      isRedisUnavailable(
        reply('WRONGTYPE Operation against a key holding the wrong kind of value'),
      ),
      false,
    );
    assert.equal(isRedisUnavailable(new Error('something else')), false);
  });
});
