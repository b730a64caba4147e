import type { BatchRecord, DeviceChoice, PackingLimits, RowScores } from '@app/handler';

/** What the thread runs on: the provider that really took the graph, and the ORT version. */
export interface RuntimeReport {
  provider: string;
  onnxruntime: string;
  /** Nodes per ORT execution provider in the placement probe (CUDA sessions only). */
  nodes?: Record<string, number>;
}

/** What the inference thread is started with. */
export interface InferenceThreadOptions {
  packagePath: string;
  device: DeviceChoice;
  intraOpNumThreads: number;
  maxArchiveBytes: number;
  maxArchiveEntries: number;
  /** Run a handler module the package carries (ALLOW_PACKAGE_CODE). */
  allowPackageCode: boolean;
  /** Packing limits from the registry (the manifest's, or overrides given at registration). */
  batching: PackingLimits;
  /** Work one bulk pass may hold while online groups are about (BULK_PASS_MS). */
  bulkPassMs: number;
}

/** Main thread → inference thread. */
export interface ClassifyRequest {
  id: number;
  texts: string[];
  /** Answer each text's result-cache key (see `Handler.cacheKeys`), not classes. */
  cacheKeys?: true;
  /** A group of bulk chunks: run a pass at a time, behind any online group. */
  bulk?: boolean;
  /** Answer each text's whole probability vector (only when some job of the group asked). */
  probabilities?: boolean;
}

/** Inference thread → main thread. */
export type ThreadMessage =
  | ({
      type: 'ready';
      runtime: RuntimeReport;
      /** Class names of the package, index = class id (answers may come as `scores`). */
      labels: string[];
    } & PackingLimits)
  | { type: 'log'; message: string }
  | {
      type: 'result';
      id: number;
      /** Empty when the answers come as `scores` (transferred typed arrays). */
      results: unknown[];
      scores?: RowScores;
      batches: BatchRecord[];
      batchOf: number[];
      windowPasses?: Record<number, number[]>;
      preprocessMs: number;
    }
  | { type: 'cacheKeys'; id: number; keys: string[] }
  | { type: 'error'; id: number; name: string; message: string }
  | { type: 'fatal'; message: string };
