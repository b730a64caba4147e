import type { Logger } from './logger';

/**
 * Bounds a process's stop: once `graceMs` have passed (its Redis gone, say, so that closing
 * never ends), it logs that it exits with `inHand` and exits with 1. The timer does not keep
 * the process alive: a stop that ends sooner exits as it chooses.
 */
export function exitAfterGrace(logger: Logger, graceMs: number, inHand: string): void {
  setTimeout(() => {
    logger.error({ graceMs }, `stop took longer than SHUTDOWN_GRACE_MS: exiting with ${inHand}`);
    process.exit(1);
  }, graceMs).unref();
}
