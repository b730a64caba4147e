import pino, { type Logger } from 'pino';

/** Structured JSON logs; pretty lines on a terminal when `pretty` is set and pino-pretty exists. */
export function createLogger(name: string, level: string, pretty = false): Logger {
  const options: pino.LoggerOptions = {
    name,
    level,
    base: { pid: process.pid, service: name },
    // Access logs must not carry secrets.
    redact: ['req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers.cookie'],
  };
  if (pretty) {
    try {
      require.resolve('pino-pretty');
      return pino({ ...options, transport: { target: 'pino-pretty' } });
    } catch {
      // pino-pretty is a dev dependency; without it, stay with JSON.
    }
  }
  return pino(options);
}

export type { Logger };
