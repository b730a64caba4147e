import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { killGroup, spawnGroup } from './children';
import { ROOT } from './paths';

/**
 * A node process of the project (API, worker, `modelfleet serve`) whose output is kept for
 * assertions. It leads a process group of its own, stopped with it and at the end of the file.
 */
export class AppProcess {
  readonly output: string[] = [];
  private readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    // Whole lines only: a log line may arrive in two chunks.
    const keep = (stream: NodeJS.ReadableStream | null) => {
      let partial = '';
      stream?.on('data', (chunk: Buffer) => {
        const lines = (partial + chunk.toString()).split('\n');
        partial = lines.pop()!;
        this.output.push(...lines.filter(Boolean));
        if (process.env.TEST_VERBOSE) process.stderr.write(`[${name}] ${chunk.toString()}`);
      });
      stream?.on('end', () => partial && this.output.push(partial));
    };
    keep(child.stdout);
    keep(child.stderr);
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** Starts `dist/<entry>` with the given environment added to this one. */
  static start(
    name: string,
    entry: string,
    env: Record<string, string>,
    args: string[] = [],
  ): AppProcess {
    const child = spawnGroup(process.execPath, [join(ROOT, 'dist', entry), ...args], {
      cwd: ROOT,
      env: { ...process.env, LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new AppProcess(name, child);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Parsed JSON log lines. */
  logs(): Record<string, unknown>[] {
    return this.output.flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }

  /** The first JSON log line whose `msg` is `message`, waiting for it; fails if the process exits first. */
  async waitForLog(message: string, timeoutMs = 60_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.logs().find((l) => l.msg === message);
      if (line) return line;
      if (!this.running) throw this.exitedError();
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for "${message}" of ${this.name}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The error to fail with when the process exited while a test waited on it. */
  exitedError(): GiveUp {
    const how = this.child.signalCode ?? `code ${this.child.exitCode}`;
    return new GiveUp(`${this.name} exited (${how}):\n${this.output.join('\n')}`);
  }

  /**
   * Sends a signal to the process and waits for its exit (SIGKILL after `graceMs`); then
   * SIGKILLs whatever of its process group is left, so nothing it started outlives it.
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<number | null> {
    if (this.running) this.child.kill(signal);
    const timer = setTimeout(() => killGroup(this.child), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    killGroup(this.child);
    return code;
  }

  waitForExit(): Promise<number | null> {
    return this.exited;
  }
}

/** Thrown by a check of {@link eventually} when waiting longer cannot help (a process exited). */
export class GiveUp extends Error {}

/**
 * Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`;
 * at once when `check` throws {@link GiveUp}.
 */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      if (error instanceof GiveUp) throw error;
      lastError = error;
    }
    if (Date.now() > deadline) {
      const why =
        lastError === undefined
          ? ''
          : `: ${lastError instanceof Error ? String(lastError) : inspect(lastError)}`;
      throw new Error(`timed out waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Waits until `GET /ping` of `apiUrl` answers Healthy; fails at once if `app` exits. */
export async function untilHealthy(
  app: AppProcess,
  apiUrl: string,
  what: string,
  timeoutMs = 60_000,
): Promise<void> {
  await eventually(
    `${what} to report Healthy`,
    async () => {
      if (!app.running) throw app.exitedError();
      const response = await fetch(`${apiUrl}/ping`);
      return response.status === 200 ? true : undefined;
    },
    timeoutMs,
    200,
  );
}
