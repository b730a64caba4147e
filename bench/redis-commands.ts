import { connectRedis } from '@app/common';

/** Calls and microseconds Redis spent, by command (`INFO commandstats`). */
export type CommandStats = Map<string, { calls: number; usec: number }>;

/** Reads Redis's own count of calls and time per command. */
export async function commandStats(url: string): Promise<CommandStats> {
  const redis = connectRedis(url);
  try {
    const info = await redis.info('commandstats');
    const stats: CommandStats = new Map();
    for (const line of info.split('\n')) {
      const match = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim());
      if (match) stats.set(match[1], { calls: Number(match[2]), usec: Number(match[3]) });
    }
    return stats;
  } finally {
    redis.disconnect();
  }
}

/**
 * A table of what each command cost per request between two readings, dearest first: Redis's
 * own time in the command (Lua scripts include the commands they call), not its I/O.
 */
export function commandTable(
  before: CommandStats,
  after: CommandStats,
  requests: number,
): string[] {
  const rows = [...after].map(([name, { calls, usec }]) => {
    const was = before.get(name) ?? { calls: 0, usec: 0 };
    return { name, calls: (calls - was.calls) / requests, usec: (usec - was.usec) / requests };
  });
  const used = rows.filter((row) => row.calls > 0).sort((a, b) => b.usec - a.usec);
  const total = used.reduce((sum, row) => sum + row.usec, 0);
  return [
    '| Redis command | calls per request | µs per request |',
    '|---|---:|---:|',
    ...used.map((r) => `| ${r.name} | ${r.calls.toFixed(3)} | ${r.usec.toFixed(1)} |`),
    // Redis counts a command a script calls both in its own row and in the script's.
    `| all (a script's row includes the commands it calls) | ${used.reduce((s, r) => s + r.calls, 0).toFixed(3)} | ${total.toFixed(1)} |`,
  ];
}
