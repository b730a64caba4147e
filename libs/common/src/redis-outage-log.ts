import type { Logger } from './logger';
import { isRedisUnavailable, type RedisConnection } from './redis';

/**
 * Logs the errors of a process's Redis connections so that an outage reads as two lines instead
 * of one per reconnect attempt, per connection and per queue consumer: the first connection
 * error, then, once every watched connection that lost Redis is ready again, how long the outage
 * lasted and how many errors it hid. Every other error is logged as it comes. The API and the
 * worker each keep one for the process.
 */
export class RedisOutageLog {
  private outage?: { since: number; errors: number };
  /** Watched connections that lost Redis and are not ready again. */
  private readonly lost = new Set<RedisConnection>();

  constructor(private readonly logger: Logger) {}

  /**
   * Hears `connection`'s errors (ioredis prints an error nobody listens to as a stack trace per
   * reconnect attempt), and its return.
   */
  watch(connection: RedisConnection): this {
    connection.on('error', (error: Error) => {
      if (isRedisUnavailable(error)) this.lost.add(connection);
      this.report(error, 'Redis connection error');
    });
    connection.on('ready', () => {
      this.lost.delete(connection);
      if (this.lost.size === 0) this.reconnected();
    });
    return this;
  }

  /**
   * Logs `error` under `message`, unless it is one more connection error of a known outage: for
   * the errors of connections it does not watch (those BullMQ opens for each consumer, say).
   */
  report(error: Error, message: string): void {
    if (!isRedisUnavailable(error)) return this.logger.error({ err: error }, message);
    if (this.outage) {
      this.outage.errors++;
      return;
    }
    this.outage = { since: Date.now(), errors: 1 };
    this.logger.warn(
      { err: error },
      'Redis is unreachable: reconnecting until it answers (more connection errors are counted, not logged)',
    );
  }

  private reconnected(): void {
    if (!this.outage) return;
    const { since, errors } = this.outage;
    this.outage = undefined;
    this.logger.info({ outageMs: Date.now() - since, errors }, 'Redis answers again');
  }
}
