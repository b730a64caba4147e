import { isRedisUnavailable, type Logger, type RedisConnection } from '@app/common';

/**
 * Logs the errors of a worker's Redis connections (its own, and those BullMQ opens for each
 * consumer) so that an outage reads as two lines instead of one per reconnect attempt and per
 * consumer: the first connection error, then, once the connection is ready again, how long it
 * lasted and how many errors it hid. Every other error is logged as it comes.
 */
export class RedisErrorLog {
  private outage?: { since: number; errors: number };

  constructor(
    private readonly logger: Logger,
    redis: RedisConnection,
  ) {
    redis.on('ready', () => this.reconnected());
    // Its own errors too: a worker that serves nothing yet has no BullMQ consumer to hear them,
    // and ioredis prints an error nobody listens to as a stack trace per reconnect attempt.
    redis.on('error', (error: Error) => this.report(error, 'Redis connection error'));
  }

  /** Logs `error` under `message`, unless it is one more connection error of a known outage. */
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
