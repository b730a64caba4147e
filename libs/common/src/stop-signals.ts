/**
 * SIGTERM and SIGINT, caught from the moment this module is loaded (the first import of an
 * app's main): a process told to stop while it starts (its packages still loading, its
 * connections still opening) stops cleanly once it can, instead of dying of the signal.
 * Imported by path (`@app/common/stop-signals`), not through the library's index, so that it
 * loads before anything heavy.
 */
const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

let requested: string | undefined;
let handler: ((signal: string) => void) | undefined;

for (const signal of STOP_SIGNALS) {
  process.on(signal, () => {
    if (handler) handler(signal);
    else requested ??= signal;
  });
}

/**
 * Hands every stop signal to `stop` from now on; one that came before is handed over at once.
 * `stop` is called for each signal: it must be idempotent.
 */
export function onStopSignal(stop: (signal: string) => void): void {
  handler = stop;
  if (requested) stop(requested);
}

/** The signal that asked this process to stop before {@link onStopSignal}, if one did. */
export function stopRequested(): string | undefined {
  return requested;
}
