import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { RestartTracker, type Logger, type RestartPolicy } from '@app/common';

/** Compiled entry of an app, from this file's place in dist/apps/cli/src/serve. */
const appEntry = (app: 'api' | 'worker') =>
  join(__dirname, '..', '..', '..', app, 'src', 'main.js');

/** Preloaded into every child: it stops when serve's end of its stdin closes. */
const LIFELINE = join(__dirname, 'lifeline.js');

/** Lines of a child's own error output kept, to say why it could not start. */
const LAST_WORDS = 8;

/** What to run and how to tell that it has started. */
export interface ChildSpec {
  /** Name in serve's log lines, e.g. `api` or `worker ag-news-bert@1 w3`. */
  name: string;
  app: 'api' | 'worker';
  /** Its whole environment; may be changed between runs (the API's ports are pinned). */
  env: NodeJS.ProcessEnv;
  /** The `msg` of the log line with which the child says it has started. */
  startedMessage: string;
}

/** Where a child's output goes, line by line: its log lines (stdout) and its error output. */
export interface ChildOutput {
  log(line: string): void;
  error(line: string): void;
}

/** Straight to serve's own stdout and stderr. */
const PLAIN_OUTPUT: ChildOutput = {
  log: (line) => process.stdout.write(`${line}\n`),
  error: (line) => process.stderr.write(`${line}\n`),
};

/** What a child tells its owner. */
export interface ChildEvents {
  /** The child logged its startup line (each run); `line` is that line, parsed. */
  onStarted?(child: SupervisedChild, line: Record<string, unknown>): void;
  /** The child failed to start too many times in a row; `reason` holds its last words. */
  onGiveUp(child: SupervisedChild, reason: string): void;
}

/**
 * One process `modelfleet serve` owns (the API or a worker), kept running: its output is passed
 * through line by line (and watched for its startup line), and an exit nobody asked for is
 * followed by a restart with backoff, or by a give-up when the child keeps failing before it
 * starts. It leads a process group of its own (so that serve alone decides the order of a stop)
 * and holds a lifeline to serve (so that it never outlives serve).
 */
export class SupervisedChild {
  private process?: ChildProcess;
  private startedAt = 0;
  private started = false;
  private stopping = false;
  private restartTimer?: NodeJS.Timeout;
  private lastWords: string[] = [];
  private readonly tracker: RestartTracker;
  private readonly exitWaiters: (() => void)[] = [];

  constructor(
    readonly spec: ChildSpec,
    policy: RestartPolicy,
    private readonly logger: Logger,
    private readonly events: ChildEvents,
    private readonly output: ChildOutput = PLAIN_OUTPUT,
  ) {
    this.tracker = new RestartTracker(policy);
  }

  /** Starts the child; it is restarted after every exit until {@link stop}. */
  start(): this {
    const child = spawn(process.execPath, ['--require', LIFELINE, appEntry(this.spec.app)], {
      env: this.spec.env,
      // stdin is the lifeline: serve never writes to it, and the child stops when it closes.
      stdio: ['pipe', 'pipe', 'pipe'],
      // A process group of its own: a Ctrl-C at the terminal reaches serve alone, which stops
      // its children in order.
      detached: true,
    });
    this.process = child;
    this.started = false;
    this.startedAt = Date.now();
    this.lastWords = [];
    forwardLines(child.stdout, (line) => {
      this.output.log(line);
      this.onStdout(line);
    });
    forwardLines(child.stderr, (line) => {
      this.output.error(line);
      this.remember(line);
    });
    child.once('error', (error) => this.remember(`${this.spec.name}: ${error.message}`));
    // 'close', not 'exit': its last words (stderr) have all been read by then.
    child.once('close', (code, signal) => this.onExit(code, signal));
    this.logger.info({ child: this.spec.name, childPid: child.pid }, 'started process');
    return this;
  }

  /** Pid of the current run, if one is running. */
  get pid(): number | undefined {
    return this.running ? this.process?.pid : undefined;
  }

  /** Whether a run is alive now. */
  get running(): boolean {
    const p = this.process;
    return p !== undefined && p.exitCode === null && p.signalCode === null;
  }

  /** Whether the current run has logged its startup line. */
  get isStarted(): boolean {
    return this.started && this.running;
  }

  /**
   * Stops for good: no more restarts; sends `signal` to a running child and resolves once it has
   * exited (at once when none runs).
   */
  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    if (!this.running) return Promise.resolve();
    this.process!.kill(signal);
    return new Promise((done) => this.exitWaiters.push(done));
  }

  /** No more restarts: the child may still run, and stop by itself or with {@link stop}. */
  retire(): void {
    this.stopping = true;
    clearTimeout(this.restartTimer);
  }

  /** Ends a run that did not stop in time. */
  kill(): void {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    if (this.running) this.process!.kill('SIGKILL');
  }

  private onStdout(line: string): void {
    const error = /"level":(50|60)/.test(line);
    if (!error && !line.includes(this.spec.startedMessage)) return;
    let parsed: Record<string, unknown> = {};
    try {
      parsed = JSON.parse(line) as Record<string, unknown>;
    } catch {
      // Not JSON (serve gives its children LOG_FORMAT=json, but a child may say something
      // else): the message is found in the text, without its fields.
    }
    if (error) {
      const err = parsed.err as { message?: string } | undefined;
      this.remember(`${String(parsed.msg)}${err?.message ? `: ${err.message}` : ''}`);
    }
    const isStartLine =
      typeof parsed.msg === 'string'
        ? parsed.msg === this.spec.startedMessage
        : line.includes(this.spec.startedMessage);
    if (!this.started && isStartLine) {
      this.started = true;
      this.events.onStarted?.(this, parsed);
    }
  }

  private remember(line: string): void {
    this.lastWords.push(line);
    if (this.lastWords.length > LAST_WORDS) this.lastWords.shift();
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.exitWaiters.splice(0).forEach((done) => done());
    if (this.stopping) return;
    const ranMs = Date.now() - this.startedAt;
    const decision = this.tracker.onExit({ started: this.started, ranMs });
    if (!decision.restart) {
      const words = this.lastWords.join('\n').trim() || `exit code ${code}, signal ${signal}`;
      this.events.onGiveUp(
        this,
        `${this.spec.name} could not start (${this.tracker.failedStarts} tries in a row):\n${words}`,
      );
      return;
    }
    this.logger.warn(
      { child: this.spec.name, code, signal, ranMs, restartInMs: decision.delayMs },
      'process exited: restarting it',
    );
    this.restartTimer = setTimeout(() => {
      if (!this.stopping) this.start();
    }, decision.delayMs);
  }
}

/** Hands a child's stream to `onLine` whole line by whole line (empty lines left out). */
function forwardLines(from: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let partial = '';
  from.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop()!;
    for (const line of lines) if (line) onLine(line);
  });
  from.on('end', () => {
    if (partial) onLine(partial);
  });
}
