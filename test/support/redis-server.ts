import { LocalRedis } from '@app/common';
import { track, untrack } from './children';

/** A throwaway redis-server on a port of its own (see {@link LocalRedis}), with no persistence. */
export class TestRedis {
  private constructor(private readonly server: LocalRedis) {}

  /** Starts it; it is stopped at the end of the test file at the latest. */
  static async start(): Promise<TestRedis> {
    const server = await LocalRedis.start();
    track(server.pid);
    return new TestRedis(server);
  }

  get url(): string {
    return this.server.url;
  }

  async stop(): Promise<void> {
    await this.server.stop();
    untrack(this.server.pid);
  }
}
