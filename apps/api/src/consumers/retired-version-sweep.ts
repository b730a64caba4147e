import { Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { isRedisUnavailable } from '@app/common';
import { ModelRegistry, versionKey } from '@app/registry';
import { RetiredVersions } from './retired-versions';

/**
 * How often the queues of unregistered versions are looked at: a caller whose job no worker will
 * take hears so within about this long of its version's last worker leaving.
 */
export const RETIRED_SWEEP_MS = 2000;

/**
 * How long after its unregistration a version's queues are still looked at once gone: longer than
 * any API process goes on calling a version it has cached (a second).
 */
const LATE_ADDS_MS = 60_000;

/**
 * Settles the queues of every unregistered version (see RetiredVersions), an interval after the
 * last pass ended. Every API process sweeps; BullMQ hands each job to one of them. A version whose
 * queues are gone is not looked at again by this process (nothing adds to them: the API refuses
 * calls to a version it does not know).
 */
@Injectable()
export class RetiredVersionSweep implements OnApplicationBootstrap, OnModuleDestroy {
  private timer?: NodeJS.Timeout;
  private pass?: Promise<void>;
  private stopped = false;
  /** Versions whose queues this process saw removed. */
  private readonly gone = new Set<string>();

  constructor(
    private readonly retired: RetiredVersions,
    private readonly registry: ModelRegistry,
    private readonly logger: PinoLogger,
  ) {}

  onApplicationBootstrap(): void {
    this.schedule();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.pass;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.pass = this.sweep().finally(() => this.schedule());
    }, RETIRED_SWEEP_MS);
    this.timer.unref();
  }

  private async sweep(): Promise<void> {
    try {
      const all = await this.retired.list();
      // A version registered again is forgotten: unregistered anew, it is looked at again.
      const listed = new Set(all.map((v) => versionKey(v.name, v.version)));
      for (const key of this.gone) if (!listed.has(key)) this.gone.delete(key);
      const retired = all.filter((v) => !this.gone.has(versionKey(v.name, v.version)));
      if (retired.length === 0) return;
      const live = await this.registry.workerCounts();
      for (const version of retired) {
        if (this.stopped) return;
        const settled = await this.retired.settle(version, live);
        const key = versionKey(version.name, version.version);
        if (settled.failed || settled.handedOn)
          this.logger.info(
            { version: key, ...settled },
            'ended the jobs an unregistered version left',
          );
        if (settled.dropped && Date.now() - Date.parse(version.at) > LATE_ADDS_MS)
          this.gone.add(key);
      }
    } catch (error) {
      // A lost connection is reported once by its owner (see main.ts); the next pass tries again.
      if (!isRedisUnavailable(error))
        this.logger.warn({ err: error }, 'cannot settle the queues of unregistered versions');
    }
  }
}
