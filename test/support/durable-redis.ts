import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalRedis } from '@app/common';
import { track, untrack } from './children';
import type { RedisServer } from './redis-server';

/**
 * A throwaway redis-server with append-only persistence in a temporary folder, which a test can
 * stop and start again on the same port with its data: Redis going away and coming back. Tracked
 * like every process a test starts; `stop()` also removes its folder.
 */
export class DurableRedis implements RedisServer {
  private constructor(
    private server: LocalRedis | undefined,
    private readonly dir: string,
    readonly port: number,
  ) {}

  static async start(): Promise<DurableRedis> {
    const dir = mkdtempSync(join(tmpdir(), 'modelfleet-redis-'));
    const server = await LocalRedis.start(dir);
    track(server.pid);
    return new DurableRedis(server, dir, server.port);
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Shuts the server down (SIGTERM: the append-only file is complete); the data stays. */
  async goAway(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await server?.stop();
    if (server) untrack(server.pid);
  }

  /** Starts it again on its port, from its data. */
  async comeBack(): Promise<void> {
    this.server = await LocalRedis.start(this.dir, () => Promise.resolve(this.port));
    track(this.server.pid);
  }

  async stop(): Promise<void> {
    await this.goAway();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
