import type { ModelManifest } from '@app/handler';

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
  /** ONNX Runtime version and, on CUDA, nodes per execution provider in the placement probe. */
  runtime?: { onnxruntime: string; nodes?: Record<string, number> };
  /** `name@version` of each version it serves. */
  versions: string[];
  jobsInFlight: number;
  lastBatch?: { size: number; tokens: number; inferenceMs: number };
  startedAt: string;
  seenAt?: number;
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
