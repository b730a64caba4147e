import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  Server,
  ServerCredentials,
  credentials,
  loadPackageDefinition,
  status,
  type Client,
  type ClientReadableStream,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { HealthImplementation, protoPath } from 'grpc-health-check';
import { addHealthService } from '../../apps/api/src/grpc/grpc-server';
import { eventually } from '../support/processes';

type HealthClient = Client & {
  watch(request: { service: string }): ClientReadableStream<{ status: string }>;
  check(
    request: { service: string },
    callback: (
      error: { code: number; details: string } | null,
      answer?: { status: string },
    ) => void,
  ): void;
};

const Health = (
  loadPackageDefinition(loadSync(protoPath, { keepCase: true, enums: String })) as unknown as {
    grpc: { health: { v1: { Health: new (address: string, creds: unknown) => HealthClient } } };
  }
).grpc.health.v1.Health;

/** What the library keeps per watched name (a private field: the leak is in it). */
const watchersOf = (health: HealthImplementation) =>
  (health as unknown as { watchers: Map<string, Set<unknown>> }).watchers;

/** A health service on a port of its own: ours (`guarded`), or the library's as it comes. */
async function serve(guarded: boolean) {
  const server = new Server();
  const health = new HealthImplementation({ '': 'SERVING' });
  if (guarded) addHealthService(server, health, ['']);
  else health.addToServer(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  const client = new Health(`127.0.0.1:${port}`, credentials.createInsecure());
  return { server, health, client };
}

/** Opens a Watch for `service`, reads its first status, then cancels it. */
async function watchOnce(client: HealthClient, service: string): Promise<string> {
  const stream = client.watch({ service });
  const first = await new Promise<string>((resolve, reject) => {
    stream.once('data', (message: { status: string }) => resolve(message.status));
    stream.once('error', reject);
  });
  stream.on('error', () => undefined); // the cancel ends it with CANCELLED
  stream.cancel();
  return first;
}

describe('gRPC health: names the server does not know are answered, never kept', () => {
  const servers: Server[] = [];
  after(() => servers.forEach((s) => s.forceShutdown()));

  // 64 KiB each, from anyone: the health service needs no API key.
  const names = Array.from({ length: 20 }, (_, i) => `${i}:`.padEnd(64 * 1024, 'x'));

  it('keeps nothing for a Watch of an unknown name (control: the library as it comes keeps each)', async () => {
    const ours = await serve(true);
    const bare = await serve(false);
    servers.push(ours.server, bare.server);
    try {
      for (const name of names) {
        assert.equal(await watchOnce(ours.client, name), 'SERVICE_UNKNOWN');
        assert.equal(watchersOf(ours.health).has(name), false);
        assert.equal(await watchOnce(bare.client, name), 'SERVICE_UNKNOWN');
      }
      // The control: once the server has seen every cancel, each name is still in its map.
      await eventually('the bare server to see the cancels', () =>
        names.every((n) => watchersOf(bare.health).get(n)?.size === 0) ? true : undefined,
      );
      assert.equal(names.filter((n) => watchersOf(bare.health).has(n)).length, names.length);
      // A known name is watched as before.
      assert.equal(await watchOnce(ours.client, ''), 'SERVING');
    } finally {
      ours.client.close();
      bare.client.close();
    }
  });

  it('answers a Check of an unknown name NOT_FOUND without echoing it', async () => {
    const ours = await serve(true);
    servers.push(ours.server);
    try {
      const failure = await new Promise<{ code: number; details: string }>((resolve, reject) =>
        ours.client.check({ service: names[0] }, (error) =>
          error ? resolve(error) : reject(new Error('answered')),
        ),
      );
      assert.equal(failure.code, status.NOT_FOUND);
      assert.ok(!failure.details.includes('xxxx'), 'the name was echoed');
      const served = await new Promise<string>((resolve, reject) =>
        ours.client.check({ service: '' }, (error, answer) =>
          error ? reject(new Error(error.details)) : resolve(answer!.status),
        ),
      );
      assert.equal(served, 'SERVING');
    } finally {
      ours.client.close();
    }
  });
});
