/**
 * Preloaded (`node --require`) into the API and every worker that `modelfleet serve` starts.
 * Those run in process groups of their own, so that a Ctrl-C at the terminal reaches serve
 * alone and serve stops them in order; this lifeline keeps them from outliving serve all the
 * same. serve holds the other end of their stdin: when it closes (serve exited, however it
 * ended, SIGKILL included), the process stops as on a SIGTERM, and exits anyway after
 * `SHUTDOWN_GRACE_MS`.
 */
import { isMainThread } from 'node:worker_threads';

const graceMs = Number(process.env.SHUTDOWN_GRACE_MS) || 30_000;
let cut = false;

function onLifelineCut(): void {
  if (cut) return;
  cut = true;
  setTimeout(() => process.exit(1), graceMs).unref();
  process.kill(process.pid, 'SIGTERM');
}

// Threads inherit the preload (a worker's inference thread): their stdin is not the lifeline.
if (isMainThread) {
  process.stdin.on('end', onLifelineCut);
  process.stdin.on('error', onLifelineCut);
  process.stdin.resume();
  // Reading stdin must not keep the process alive by itself.
  (process.stdin as NodeJS.ReadStream & { unref?: () => void }).unref?.();
}
