import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** Raised when settings do not validate; its message lists every bad key. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Parses settings with a zod object schema whose keys are the variable names: from the
 * environment, over the optional JSON file named by MODELFLEET_CONFIG (`{"KEY": value}`).
 * Unknown keys are ignored; each bad one is named in a single error.
 */
export function parseEnv<T extends z.ZodObject>(
  schema: T,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<T> {
  const file = readConfigFile(env.MODELFLEET_CONFIG);
  const input: Record<string, string> = {};
  const lines: string[] = [];
  for (const key of Object.keys(schema.shape)) {
    const inFile =
      file[key] === undefined || file[key] === null ? undefined : fileSetting(file[key]);
    if (env[key] === undefined && inFile === null) {
      lines.push(
        `  ${key}: MODELFLEET_CONFIG gives ${JSON.stringify(file[key])}; ` +
          'a setting is a string, a number, a boolean or a list of them',
      );
    }
    const value = env[key] ?? inFile ?? undefined;
    if (value !== undefined && value !== '') input[key] = value;
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    lines.push(
      ...parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`),
    );
  }
  if (lines.length || !parsed.success) {
    throw new ConfigError(`invalid settings:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

/**
 * A value of the JSON file as the text an environment variable would hold: a string, number or
 * boolean as written, a list of them comma-separated; null for an object or a nested list,
 * which no setting takes.
 */
function fileSetting(value: unknown): string | null {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    return String(value);
  }
  if (Array.isArray(value)) {
    const items = value.map(fileSetting);
    return items.includes(null) || value.some(Array.isArray) ? null : items.join(',');
  }
  return null;
}

/** Whether `key` is set, in the environment or in the MODELFLEET_CONFIG file (empty is unset). */
export function settingGiven(key: string, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env[key] !== undefined && env[key] !== '') return true;
  const inFile = readConfigFile(env.MODELFLEET_CONFIG)[key];
  return inFile !== undefined && inFile !== null && inFile !== '';
}

function readConfigFile(path: string | undefined): Record<string, unknown> {
  if (!path) return {};
  try {
    const content = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    if (!content || typeof content !== 'object' || Array.isArray(content))
      throw new Error('not a JSON object');
    return content as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError(
      `invalid settings:\n  MODELFLEET_CONFIG: cannot read ${path}: ${(error as Error).message}`,
    );
  }
}

/**
 * Integer setting with a default and bounds, written in decimal digits. Anything else is refused,
 * never read as another number: a coercion would take a blank value for 0 (REDIS_ACK_REPLICAS=" "
 * silently off, a port of " " any port) and "0x10" or "1e3" for numbers nobody wrote.
 */
export const intSetting = (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .trim()
    .regex(/^[+-]?\d+$/, 'must be a whole number in decimal digits')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
    .default(fallback);

/** Boolean setting: true/false/1/0/yes/no. */
export const boolSetting = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** Comma-separated list setting. */
export const listSetting = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    );

/** Settings every process reads. */
export const commonSettings = {
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must start with redis:// or rediss://')
    .default('redis://127.0.0.1:6379'),
  /** Nodes of a Redis Cluster (`host:port,...`); when set, every connection is a cluster's. */
  REDIS_CLUSTER_NODES: listSetting('').refine(
    (nodes) => nodes.every((node) => /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(node)),
    'must be a comma-separated list of host:port',
  ),
  /**
   * Redis Sentinels (`host:port,...`); when set, every connection is to the primary they name
   * REDIS_SENTINEL_NAME, and follows it through a failover.
   */
  REDIS_SENTINELS: listSetting('').refine(
    (nodes) => nodes.every((node) => /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(node)),
    'must be a comma-separated list of host:port',
  ),
  REDIS_SENTINEL_NAME: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/)
    .default('mymaster'),
  MODEL_STORE: z.string().default('models'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** `auto`: lines for people on a terminal, JSON lines anywhere else. */
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),
  /** Prefix of every Redis key and queue, so several deployments can share one Redis. */
  KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default('mf'),
  WEBHOOK_MAX_ATTEMPTS: intSetting(5, 1),
  WEBHOOK_BACKOFF_MS: intSetting(1000, 1),
  /** How long a stop may take (work in hand finishing): past it the process exits anyway. */
  SHUTDOWN_GRACE_MS: intSetting(30_000, 100),
};
