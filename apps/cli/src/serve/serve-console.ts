import { prettyLogLines, type LogFormat } from '@app/common';

/**
 * What `modelfleet serve` writes: its own log lines and its children's go to stdout, as the
 * JSON lines they are or, in the `pretty` format, one line for people each; the children's
 * error output goes to stderr as it is.
 *
 * When stdout or stderr goes away (the reader of a pipe exited, as `tee` does on the Ctrl-C of
 * `npm start | tee run.log`; the terminal was closed), nothing more is written to it and `onGone`
 * is called, once: serve then stops what it started, as on SIGTERM, instead of dying of the write
 * error and leaving its Redis behind. With stdout gone, serve's own lines go to stderr, if it is
 * still there: how the stop went (a child killed at the end of the grace period, say) is told.
 */
export class ServeConsole {
  private readonly gone = new Set<NodeJS.WriteStream>();
  private readonly pretty?: (line: string) => string;

  constructor(
    readonly format: LogFormat,
    private readonly onGone: (reason: string) => void,
  ) {
    if (format === 'pretty') this.pretty = prettyLogLines(Boolean(process.stdout.isTTY));
    // Kept for good: a later write to the closed stream fails again, and must not throw.
    process.stdout.on('error', (error: Error) => this.lost(process.stdout, 'stdout', error));
    process.stderr.on('error', (error: Error) => this.lost(process.stderr, 'stderr', error));
  }

  /** A destination for serve's own logger: stdout, or stderr once stdout is gone. */
  readonly destination = {
    write: (line: string) =>
      this.log(line, this.gone.has(process.stdout) ? process.stderr : process.stdout),
  };

  /** A log line, of serve or of a child: JSON (anything else is passed on as it is). */
  log(line: string, stream: NodeJS.WriteStream = process.stdout): void {
    if (this.pretty && line.startsWith('{')) {
      try {
        return this.write(stream, this.pretty(line));
      } catch {
        // Not a log line after all: written as it is below.
      }
    }
    this.write(stream, line);
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
    if (this.gone.has(stream) || line === '') return;
    stream.write(line.endsWith('\n') ? line : `${line}\n`);
  }

  private lost(stream: NodeJS.WriteStream, name: string, error: Error): void {
    if (this.gone.has(stream)) return;
    const first = this.gone.size === 0;
    this.gone.add(stream);
    if (first)
      this.onGone(
        `its ${name} was closed (${(error as NodeJS.ErrnoException).code ?? error.message})`,
      );
  }
}
