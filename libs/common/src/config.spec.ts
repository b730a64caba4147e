import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { z } from 'zod';
import {
  ConfigError,
  boolSetting,
  commonSettings,
  intSetting,
  listSetting,
  parseEnv,
  settingGiven,
} from './config';
import { defaultRedisNotice, redisTarget } from './redis';

const schema = z.object({
  PORT: intSetting(8080, 1, 65535),
  DEBUG: boolSetting(false),
  HOSTS: listSetting('a,b'),
});

describe('parseEnv', () => {
  it('fills defaults and coerces values', () => {
    assert.deepEqual(parseEnv(schema, {}), { PORT: 8080, DEBUG: false, HOSTS: ['a', 'b'] });
    assert.deepEqual(parseEnv(schema, { PORT: '9000', DEBUG: 'yes', HOSTS: 'x, y' }), {
      PORT: 9000,
      DEBUG: true,
      HOSTS: ['x', 'y'],
    });
  });

  it('names every bad key in one error', () => {
    assert.throws(
      () => parseEnv(schema, { PORT: 'eighty', DEBUG: 'maybe' }),
      (error: Error) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /PORT/);
        assert.match(error.message, /DEBUG/);
        return true;
      },
    );
  });

  it('reads a JSON config file, which the environment overrides', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mf-config-')), 'settings.json');
    writeFileSync(file, JSON.stringify({ PORT: 7000, DEBUG: true }));
    assert.deepEqual(parseEnv(schema, { MODELFLEET_CONFIG: file }), {
      PORT: 7000,
      DEBUG: true,
      HOSTS: ['a', 'b'],
    });
    assert.equal(parseEnv(schema, { MODELFLEET_CONFIG: file, PORT: '7001' }).PORT, 7001);
    assert.throws(
      () => parseEnv(schema, { MODELFLEET_CONFIG: '/no/such.json' }),
      /MODELFLEET_CONFIG: cannot read/,
    );
  });

  it('takes a JSON list for a list setting, and names an object where a setting is due', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mf-config-'));
    const lists = join(dir, 'lists.json');
    writeFileSync(lists, JSON.stringify({ HOSTS: ['x', 'y'], PORT: null }));
    assert.deepEqual(parseEnv(schema, { MODELFLEET_CONFIG: lists }).HOSTS, ['x', 'y']);
    assert.equal(parseEnv(schema, { MODELFLEET_CONFIG: lists }).PORT, 8080);
    const objects = join(dir, 'objects.json');
    writeFileSync(objects, JSON.stringify({ HOSTS: { a: 1 }, DEBUG: [['yes']], PORT: 'eighty' }));
    assert.throws(
      () => parseEnv(schema, { MODELFLEET_CONFIG: objects }),
      (error: Error) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /HOSTS: MODELFLEET_CONFIG gives \{"a":1\}; a setting is/);
        assert.match(error.message, /DEBUG: MODELFLEET_CONFIG gives \[\["yes"\]\]; a setting is/);
        assert.match(error.message, /PORT: /);
        assert.doesNotMatch(error.message, /object Object/);
        return true;
      },
    );
    // The environment wins over the file, its bad value included.
    assert.deepEqual(
      parseEnv(schema, { MODELFLEET_CONFIG: objects, HOSTS: 'z', DEBUG: 'no', PORT: '1' }),
      {
        PORT: 1,
        DEBUG: false,
        HOSTS: ['z'],
      },
    );
  });
});

describe('REDIS_CLUSTER_NODES', () => {
  const common = z.object(commonSettings);

  it('is empty by default: one Redis at REDIS_URL', () => {
    assert.deepEqual(parseEnv(common, {}).REDIS_CLUSTER_NODES, []);
  });

  it('takes a comma-separated list of host:port, IPv6 hosts in brackets', () => {
    assert.deepEqual(
      parseEnv(common, { REDIS_CLUSTER_NODES: 'redis-0:6379, 10.0.0.2:7000,[::1]:7001' })
        .REDIS_CLUSTER_NODES,
      ['redis-0:6379', '10.0.0.2:7000', '[::1]:7001'],
    );
  });

  it('refuses a node without a port, or a URL', () => {
    for (const bad of ['redis-0', 'redis-0:6379,redis-1', 'redis://redis-0:6379']) {
      assert.throws(
        () => parseEnv(common, { REDIS_CLUSTER_NODES: bad }),
        /REDIS_CLUSTER_NODES: must be a comma-separated list of host:port/,
        bad,
      );
    }
  });
});

describe('the default Redis', () => {
  it('is named at start when none of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS is set', () => {
    const given = (key: string) => settingGiven(key, {});
    assert.equal(
      defaultRedisNotice('redis://127.0.0.1:6379', given),
      'REDIS_URL is not set: using the Redis at redis://127.0.0.1:6379 (set REDIS_URL to choose another)',
    );
  });

  it('is not when REDIS_URL is set, in the environment or the MODELFLEET_CONFIG file (control)', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'modelfleet-config-')), 'config.json');
    writeFileSync(file, JSON.stringify({ REDIS_URL: 'redis://10.0.0.9:6379' }));
    for (const env of [
      { REDIS_URL: 'redis://10.0.0.9:6379' },
      { REDIS_CLUSTER_NODES: '10.0.0.9:7000' },
      { REDIS_SENTINELS: '10.0.0.9:26379' },
      { MODELFLEET_CONFIG: file },
    ]) {
      const given = (key: string) => settingGiven(key, env);
      assert.equal(defaultRedisNotice('redis://10.0.0.9:6379', given), undefined);
    }
    // Empty is unset, as everywhere else.
    assert.equal(settingGiven('REDIS_URL', { REDIS_URL: '' }), false);
  });
});

describe('REDIS_SENTINELS and REDIS_SENTINEL_NAME', () => {
  const common = z.object(commonSettings);

  it('are off by default, the name mymaster', () => {
    const parsed = parseEnv(common, {});
    assert.deepEqual(parsed.REDIS_SENTINELS, []);
    assert.equal(parsed.REDIS_SENTINEL_NAME, 'mymaster');
  });

  it('make a Sentinel target of every connection', () => {
    const parsed = parseEnv(common, {
      REDIS_SENTINELS: 's-0:26379, [::1]:26380',
      REDIS_SENTINEL_NAME: 'queues',
    });
    assert.deepEqual(redisTarget(parsed), {
      url: 'redis://127.0.0.1:6379',
      clusterNodes: [],
      sentinels: ['s-0:26379', '[::1]:26380'],
      sentinelName: 'queues',
    });
  });

  it('refuses a Sentinel without a port, and a name with spaces', () => {
    assert.throws(
      () => parseEnv(common, { REDIS_SENTINELS: 's-0' }),
      /REDIS_SENTINELS: must be a comma-separated list of host:port/,
    );
    assert.throws(
      () => parseEnv(common, { REDIS_SENTINEL_NAME: 'my master' }),
      /REDIS_SENTINEL_NAME/,
    );
  });
});
