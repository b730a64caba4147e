import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { eventually } from '../support/processes';
import { startSecuredRedis, type RedisServer } from '../support/redis-server';
import { MANAGEMENT_TOKEN, Stack } from '../support/stack';
import { WebhookSink } from '../support/webhook-sink';

const USER = 'modelfleet';
const PASSWORD = 'a-long-redis-password-0123456789';

/** A self-signed certificate for 127.0.0.1, which the processes trust through NODE_EXTRA_CA_CERTS. */
function selfSignedCertificate(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'modelfleet-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const run = spawnSync('openssl', [
    ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1'],
    ...['-keyout', key, '-out', cert, '-subj', '/CN=127.0.0.1'],
    ...['-addext', 'subjectAltName=IP:127.0.0.1'],
  ]);
  assert.equal(run.status, 0, `openssl failed: ${run.stderr.toString()}`);
  return { cert, key };
}

describe('Redis with an ACL user and TLS', () => {
  const tls = selfSignedCertificate();
  const ca = readFileSync(tls.cert, 'utf8');
  let redis: RedisServer;
  let stack: Stack;
  let sink: WebhookSink;

  before(async () => {
    redis = await startSecuredRedis({ user: USER, password: PASSWORD, tls });
    assert.match(redis.url, /^rediss:\/\/modelfleet:.+@127\.0\.0\.1:\d+$/);
    sink = await WebhookSink.start();
    stack = await Stack.start({ redis, env: { NODE_EXTRA_CA_CERTS: tls.cert } });
  });

  after(async () => {
    await stack?.stop();
    await sink?.close();
  });

  // The server itself refuses whoever lacks the credentials or TLS: the stack below works
  // because it presents them, not because the server is open.
  it('refuses clients without the password or without TLS, and they write nothing', async () => {
    const port = redis.port;
    const once = { maxRetriesPerRequest: 0, retryStrategy: () => null };
    const attempts = [
      new Redis(`rediss://127.0.0.1:${port}`, { tls: { ca }, ...once }),
      new Redis(`rediss://${USER}:wrong-password@127.0.0.1:${port}`, { tls: { ca }, ...once }),
      new Redis(`redis://${USER}:${PASSWORD}@127.0.0.1:${port}`, once),
    ];
    for (const client of attempts) {
      client.on('error', () => undefined);
      await assert.rejects(client.set('intruder', 'x'));
      client.disconnect();
    }
    const admin = new Redis(redis.url, { tls: { ca } });
    assert.equal(await admin.exists('intruder'), 0);
    admin.disconnect();
  });

  it('serves sync and async predictions, webhooks and the queue board through it', async () => {
    const sync = await stack.request('POST', '/predictions/ag-news-bert', {
      data: ['Yankees beat the Red Sox in extra innings'],
    });
    assert.equal(sync.status, 200, JSON.stringify(sync.body));
    assert.equal(sync.body[0].label_name, 'Sports');

    const created = await stack.request(
      'POST',
      '/v1/predictions',
      {
        model: 'ag-news-bert',
        input: { data: ['Oil prices surge on supply fears'] },
        webhook: sink.url,
      },
      { prefer: 'wait=10' },
    );
    assert.ok([200, 202].includes(created.status), JSON.stringify(created.body));
    await eventually('the webhook', () => (sink.received.length > 0 ? true : undefined));

    const board = await fetch(`${stack.managementUrl}/admin/queues/api/queues`, {
      headers: { authorization: `Bearer ${MANAGEMENT_TOKEN}` },
    });
    assert.equal(board.status, 200);
  });
});
