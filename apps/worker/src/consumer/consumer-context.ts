import type { Logger, RedisConnection, RedisOutageLog } from '@app/common';
import type { WorkerConfig } from '../config';
import type { DeathWindow } from '../faults/death-window';
import type { StartReporter } from '../start-reporter';
import type { WorkerMetrics } from '../worker-metrics';

/**
 * What every consumer of a worker process shares, built once by the process, and what a
 * consumer tells the process.
 */
export interface ConsumerContext {
  connection: RedisConnection;
  config: WorkerConfig;
  logger: Logger;
  metrics: WorkerMetrics;
  /** Where errors of Redis connections go (an outage is logged once). */
  redisErrors: RedisOutageLog;
  /** Tells the queues' progress counters which jobs left their queue for work. */
  starts: StartReporter;
  /** Thread deaths of the whole process: past its limit, the process exits. */
  deaths: DeathWindow;
  /** The consumer stopped or resumed serving (its thread died, or is back): heartbeat now. */
  servingChanged(): void;
  /** Threads died too often: the process should stop and exit non-zero. */
  fatal(error: Error): void;
}
