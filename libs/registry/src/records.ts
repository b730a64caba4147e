import type { ModelManifest } from '@app/handler/package';

/** A registered model version. */
export interface VersionRecord {
  name: string;
  version: string;
  /** Package location inside the model store (folder or archive name). */
  location: string;
  manifest: ModelManifest;
  /** Label names, index = class id (from the manifest or the package's config.json). */
  labels: string[];
  registeredAt: string;
  /** Workers the fleet should keep on this version. */
  minWorkers: number;
  maxWorkers: number;
  /** Content hash of the package, computed at registration (see `packageSha256`). */
  packageSha256?: string;
  /**
   * Seconds a worker keeps each answer in its result cache; 0 or absent: no cache. Identical
   * texts (after the handler's normalisation) within it are answered without inference.
   */
  cacheTtlS?: number;
}

/** What a worker says about itself at every heartbeat. */
export interface WorkerRecord {
  id: string;
  host: string;
  pid: number;
  /** The execution provider that really runs the graph: `cuda` only when CUDA took it. */
  device: string;
  /**
   * The provider that runs the graph, the ONNX Runtime version and, on CUDA, nodes per execution
   * provider in the placement probe.
   */
  runtime?: { provider: string; onnxruntime: string; nodes?: Record<string, number> };
  /** `name@version` of each version it serves. */
  versions: string[];
  jobsInFlight: number;
  /** Where its Prometheus metrics are served (a replaced worker's port may differ). */
  metricsUrl?: string;
  lastBatch?: { size: number; tokens: number; inferenceMs: number };
  /**
   * Texts per second it answers per `name@version` **while it has work**: texts answered over the
   * time at least one of that version's jobs was in hand, an exponentially weighted average over
   * the last ~10 s of such busy time. Idle time does not count, so this estimates how fast the
   * worker drains a backlog (queue wait ≈ backlog in texts / the sum over live workers), not the
   * traffic it gets. A version with nothing answered yet has no entry; one whose inference thread
   * is restarting is left out, as it is from `versions`.
   */
  throughput?: Record<string, number>;
  startedAt: string;
  seenAt?: number;
}

/**
 * Why something cannot be served, as whoever found out reported it: a worker that cannot load a
 * version, or the API that cannot read a package of the store.
 */
export interface ServingFailure {
  /** Who reported it: a worker id, or `api`. */
  source: string;
  reason: string;
  at: string;
}

/**
 * A version that gets a copy of a fraction of its model's online traffic, so that its answers
 * can be compared with those callers get.
 */
export interface ShadowSetting {
  version: string;
  /** Share of the model's online jobs copied to it, in (0, 1]. */
  fraction: number;
  /** When this version became the shadow: its comparisons count from then. */
  since: string;
}

/** A version the operator unregistered, remembered until it is registered again. */
export interface UnregisteredVersion {
  /** Its package's location in the model store when it was unregistered. */
  location: string;
  at: string;
}

/** A model with its versions, default, split and shadow. */
export interface ModelRecord {
  name: string;
  defaultVersion?: string;
  traffic: Record<string, number>;
  shadow?: ShadowSetting;
  versions: VersionRecord[];
}

/** `name@version`, the key of a version across the registry and queues. */
export function versionKey(name: string, version: string): string {
  return `${name}@${version}`;
}

/** The failure subject of a package of the model store (one the API could not register). */
export function packageSubject(location: string): string {
  return `package:${location}`;
}
