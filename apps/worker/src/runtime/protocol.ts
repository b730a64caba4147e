import type { BatchRecord, DeviceChoice } from '@app/handler';

/** What the inference thread is started with. */
export interface InferenceThreadOptions {
  packagePath: string;
  device: DeviceChoice;
  intraOpNumThreads: number;
  maxArchiveBytes: number;
  /** Packing limits from the registry (the manifest's, or overrides given at registration). */
  batching: { maxBatchSize: number; maxBatchTokens: number };
}

/** Main thread → inference thread. */
export interface ClassifyRequest {
  id: number;
  texts: string[];
}

/** Inference thread → main thread. */
export type ThreadMessage =
  | { type: 'ready'; provider: string; maxBatchSize: number; maxBatchTokens: number }
  | { type: 'log'; message: string }
  | {
      type: 'result';
      id: number;
      results: unknown[];
      batches: BatchRecord[];
      batchOf: number[];
      preprocessMs: number;
    }
  | { type: 'error'; id: number; name: string; message: string }
  | { type: 'fatal'; message: string };
