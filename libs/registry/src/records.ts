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
  lastBatch?: { size: number; tokens: number; inferenceMs: number };
  /** Texts per second it has been answering, per `name@version` (a moving average). */
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

/** A model with its versions, default and split. */
export interface ModelRecord {
  name: string;
  defaultVersion?: string;
  traffic: Record<string, number>;
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
