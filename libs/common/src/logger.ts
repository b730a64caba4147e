import pino, { type DestinationStream, type Logger } from 'pino';
import type * as PinoPretty from 'pino-pretty';

/** The LOG_FORMAT setting: `auto` is `pretty` on a terminal and `json` anywhere else. */
export type LogFormatSetting = 'auto' | 'json' | 'pretty';

/** How a process writes its log lines: one JSON object a line, or a line for people. */
export type LogFormat = 'json' | 'pretty';

/** The format `setting` means for output to `stream` (stdout unless told). */
export function logFormat(
  setting: LogFormatSetting,
  stream: { isTTY?: boolean } = process.stdout,
): LogFormat {
  if (setting !== 'auto') return setting;
  return stream.isTTY ? 'pretty' : 'json';
}

/**
 * Turns one JSON log line (or object) into one line for people: time, level, the process that
 * logged it, the message and its other fields on the same line. Colours on a terminal.
 */
export function prettyLogLines(colorize = Boolean(process.stdout.isTTY)): (line: string) => string {
  // Loaded on first use: processes that write JSON (every one off a terminal) never load it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { prettyFactory } = require('pino-pretty') as typeof PinoPretty;
  return prettyFactory({
    colorize,
    singleLine: true,
    translateTime: 'HH:MM:ss.l',
    // The service names the process; its pid and host are noise at a terminal.
    ignore: 'pid,hostname,name,service',
    messageFormat: '{service}: {msg}',
  });
}

/**
 * Structured logs: JSON lines, or with `format` `pretty` lines for people (see
 * {@link prettyLogLines}). They go to stdout, or to `destination` when given.
 */
export function createLogger(
  name: string,
  level: string,
  format: LogFormatSetting = 'json',
  destination?: DestinationStream,
): Logger {
  const options: pino.LoggerOptions = {
    name,
    level,
    base: { pid: process.pid, service: name },
    // Access logs must not carry secrets.
    redact: ['req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers.cookie'],
  };
  const out = destination ?? process.stdout;
  if (logFormat(format, out as { isTTY?: boolean }) === 'pretty') {
    const pretty = prettyLogLines(Boolean((out as { isTTY?: boolean }).isTTY));
    return pino(options, { write: (line: string) => out.write(pretty(line)) });
  }
  return destination ? pino(options, destination) : pino(options);
}

export type { Logger };

/** Longest write that a pipe takes whole (Linux's PIPE_BUF). */
const PIPE_BUF = 4096;

/** Most bytes of lines a background stdout holds while the stdout cannot keep up. */
export const MAX_BUFFERED = 16 * 1024 * 1024;

/**
 * Stdout written in the background (pino's asynchronous destination), for JSON lines: lines
 * logged while a write is under way go out together in the next one, and a stdout that cannot
 * keep up (a full pipe) no longer stops the event loop for 100 ms at a time, as pino's default
 * blocking writes do; what is left is written at exit. Each write holds whole lines and at most
 * PIPE_BUF bytes, so processes sharing one stdout (the API processes of a cluster) never cut
 * each other's lines; past {@link MAX_BUFFERED} bytes waiting, lines are dropped rather than
 * held. For a process that writes to its stdout through its logger alone (the API).
 */
export function backgroundStdout(): DestinationStream {
  return pino.destination({ dest: 1, sync: false, maxWrite: PIPE_BUF, maxLength: MAX_BUFFERED });
}
