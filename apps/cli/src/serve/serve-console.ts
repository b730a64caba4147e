import { prettyLogLines, type LogFormat } from '@app/common';

/**
 * What `modelfleet serve` writes: its own log lines and its children's go to stdout, as the
 * JSON lines they are or, in the `pretty` format, one line for people each; the children's
 * error output goes to stderr as it is.
 *
 * When stdout or stderr goes away (the reader of a pipe exited, as `tee` does on the Ctrl-C of
 * `npm start | tee run.log`; the terminal was closed), nothing more is written and `onGone` is
 * called, once: serve then stops what it started, as on SIGTERM, instead of dying of the write
 * error and leaving its Redis behind.
 */
export class ServeConsole {
  private gone = false;
  private readonly pretty?: (line: string) => string;

  constructor(
    readonly format: LogFormat,
    private readonly onGone: (reason: string) => void,
  ) {
    if (format === 'pretty') this.pretty = prettyLogLines(Boolean(process.stdout.isTTY));
    // Kept for good: a later write to the closed stream fails again, and must not throw.
    process.stdout.on('error', (error: Error) => this.lost('stdout', error));
    process.stderr.on('error', (error: Error) => this.lost('stderr', error));
  }

  /** A destination for serve's own logger. */
  readonly destination = { write: (line: string) => this.log(line) };

  /** A log line, of serve or of a child: JSON (anything else is passed on as it is). */
  log(line: string): void {
    if (this.pretty && line.startsWith('{')) {
      try {
        return this.write(process.stdout, this.pretty(line));
      } catch {
        // Not a log line after all: written as it is below.
      }
    }
    this.write(process.stdout, line);
  }

  /** A line for people (the ready banner), as it is. */
  say(text: string): void {
    this.write(process.stdout, text);
  }

  /** A line of a child's error output, as it is. */
  error(line: string): void {
    this.write(process.stderr, line);
  }

  private write(stream: NodeJS.WriteStream, line: string): void {
    if (this.gone || line === '') return;
    stream.write(line.endsWith('\n') ? line : `${line}\n`);
  }

  private lost(stream: string, error: Error): void {
    if (this.gone) return;
    this.gone = true;
    this.onGone(
      `its ${stream} was closed (${(error as NodeJS.ErrnoException).code ?? error.message})`,
    );
  }
}
