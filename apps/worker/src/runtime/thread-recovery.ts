import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@app/common';
import { loadRetryDelay } from '../faults/load-retries';
import type { ConsumerContext } from '../consumer/consumer-context';
import type { InferencePool } from './inference-pool';

/** What a recovery does to the consumer whose thread died. */
export interface RecoverySteps {
  /** Stops taking jobs and hands those in hand back to their queues; resolves to their count. */
  handBack(): Promise<number>;
  /** Starts a new thread and resolves once its model is loaded and warmed up. */
  restart(): Promise<InferencePool>;
  /** Takes the new thread and starts taking jobs again. */
  resume(client: InferencePool): void;
  /** True once the consumer is closing: a recovery then stops where it is. */
  closing(): boolean;
}

/**
 * What a consumer does when its inference thread dies, so that the worker never takes jobs it
 * cannot answer: it says at once that it no longer serves the version (readiness and the next
 * heartbeat), stops fetching, hands the jobs in hand back to their queue without spending an
 * attempt, starts and warms a new thread (retrying with backoff when that fails) and takes jobs
 * again. Every death and failed start counts in the process's {@link DeathWindow}: past its
 * limit, the process is told to exit.
 */
export class ThreadRecovery {
  private running?: Promise<void>;
  /** A death heard while a recovery ran: the new thread died too, so recover again after. */
  private diedAgain?: Error;
  private readonly abort = new AbortController();
  /** Why the version is not served, while a recovery runs. */
  down?: string;

  constructor(
    private readonly labels: { model: string; version: string },
    private readonly context: ConsumerContext,
    private readonly log: Logger,
    private readonly steps: RecoverySteps,
  ) {}

  /** The thread ended: starts a recovery (after the one running, if any) unless closing. */
  threadDied(error: Error): void {
    if (this.steps.closing()) return;
    if (this.running) {
      this.diedAgain = error;
      return;
    }
    this.down = `inference thread died (${error.message}); restarting it`;
    this.context.metrics.threadDeaths.inc(this.labels);
    const restartAllowed = this.context.deaths.record();
    this.log.error({ err: error }, 'inference thread died: handing jobs back and restarting it');
    this.context.servingChanged();
    this.running = this.recover(restartAllowed, error)
      .catch((failure) => this.log.error({ err: failure }, 'thread recovery failed'))
      .finally(() => {
        this.running = undefined;
        const again = this.diedAgain;
        this.diedAgain = undefined;
        if (again) this.threadDied(again);
      });
  }

  /** Stops a recovery under way (a backoff is cut short) and waits for it to end. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  private async recover(restartAllowed: boolean, cause: Error): Promise<void> {
    const handed = await this.steps.handBack();
    this.context.metrics.jobs.inc({ ...this.labels, outcome: 'handed_back' }, handed);
    this.log.warn({ jobs: handed }, 'jobs in hand handed back to the queue');
    if (!restartAllowed) return this.giveUp(cause);
    const { LOAD_RETRY_MS, LOAD_RETRY_MAX_MS } = this.context.config;
    for (let failures = 1; !this.steps.closing(); failures++) {
      let client: InferencePool;
      try {
        client = await this.steps.restart();
      } catch (error) {
        this.log.error({ err: error }, 'inference thread did not restart');
        if (!this.context.deaths.record()) return this.giveUp(error as Error);
        const delay = loadRetryDelay(failures, LOAD_RETRY_MS, LOAD_RETRY_MAX_MS);
        await sleep(delay, undefined, { signal: this.abort.signal }).catch(() => undefined);
        continue;
      }
      if (this.steps.closing()) return client.close();
      this.steps.resume(client);
      this.down = undefined;
      this.log.info('inference thread restarted and warmed up: taking jobs again');
      this.context.servingChanged();
      return;
    }
  }

  private giveUp(error: Error): void {
    const { THREAD_DEATH_LIMIT, THREAD_DEATH_WINDOW_MS } = this.context.config;
    this.down = 'inference threads died too often: the worker is exiting';
    this.context.fatal(
      new Error(
        `inference threads died ${THREAD_DEATH_LIMIT} times within ${THREAD_DEATH_WINDOW_MS} ms ` +
          `(last: ${error.message})`,
      ),
    );
  }
}
