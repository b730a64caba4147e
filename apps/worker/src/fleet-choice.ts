import { versionKey, type VersionRecord } from '@app/registry';

/**
 * The versions a worker in `auto` mode should serve: those it serves already, plus versions
 * whose live worker count (others only) is below their min, neediest first, up to `slots`.
 * When every version has its min, an idle worker takes the version furthest below its max.
 */
export function chooseVersions(
  registered: readonly VersionRecord[],
  serving: ReadonlySet<string>,
  liveOthers: ReadonlyMap<string, number>,
  slots: number,
): Set<string> {
  const keys = new Map(registered.map((r) => [versionKey(r.name, r.version), r]));
  const chosen = new Set([...serving].filter((key) => keys.has(key)));
  const gap = (key: string, target: number) => target - (liveOthers.get(key) ?? 0);
  const byNeed = (target: (r: VersionRecord) => number) =>
    [...keys]
      .filter(([key, record]) => !chosen.has(key) && gap(key, target(record)) > 0)
      .sort(([a, ra], [b, rb]) => gap(b, target(rb)) - gap(a, target(ra)) || a.localeCompare(b))
      .map(([key]) => key);
  for (const key of byNeed((r) => r.minWorkers)) {
    if (chosen.size >= slots) break;
    chosen.add(key);
  }
  if (chosen.size === 0) {
    const [first] = byNeed((r) => r.maxWorkers);
    if (first) chosen.add(first);
  }
  return chosen;
}
