import { RestartTracker, type LocalRedis, type Logger, type RestartPolicy } from '@app/common';

/**
 * Keeps the redis-server that `modelfleet serve` started running: when it dies, a new one starts
 * on the same port with the same data folder (its append-only file brings back what was
 * acknowledged), with backoff; `onGiveUp` is called when it cannot start again.
 */
export class RedisKeeper {
  private readonly tracker: RestartTracker;
  private startedAt = Date.now();
  private stopping = false;
  private restarting?: Promise<void>;

  constructor(
    private readonly redis: LocalRedis,
    policy: RestartPolicy,
    private readonly logger: Logger,
    private readonly onGiveUp: (reason: string) => void,
  ) {
    this.tracker = new RestartTracker(policy);
    void this.watch();
  }

  /** Stops the redis-server for good, after any restart under way. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.restarting;
    await this.redis.stop();
  }

  private async watch(): Promise<void> {
    await this.redis.exited();
    if (this.stopping) return;
    this.restarting = this.restart();
    await this.restarting;
    this.restarting = undefined;
  }

  private async restart(): Promise<void> {
    let decision = this.tracker.onExit({ started: true, ranMs: Date.now() - this.startedAt });
    let failure = 'it exited';
    while (decision.restart) {
      const delayMs = decision.delayMs;
      this.logger.warn(
        { port: this.redis.port, restartInMs: delayMs },
        'the local redis-server exited: restarting it on the same port',
      );
      await new Promise((r) => setTimeout(r, delayMs));
      if (this.stopping) return;
      try {
        await this.redis.restart();
        this.startedAt = Date.now();
        this.logger.info(
          { redisPid: this.redis.pid, port: this.redis.port },
          'restarted the local redis-server',
        );
        void this.watch();
        return;
      } catch (error) {
        failure = (error as Error).message;
        decision = this.tracker.onExit({ started: false, ranMs: 0 });
      }
    }
    this.onGiveUp(`the local redis-server could not start again: ${failure}`);
  }
}
