import { resolve } from 'node:path';
import type { Logger } from '@app/common';
import type { PackingLimits } from '@app/handler/package';
import type { VersionRecord } from '@app/registry';
import type { WorkerConfig } from '../config';
import { InferencePool } from '../runtime/inference-pool';

/**
 * The inference threads of one model version (INFERENCE_THREADS of them, see InferencePool):
 * how they are started (the version's package, the worker's settings), and those in use. When
 * one dies, all are replaced through {@link ThreadRecovery}; `died` hears each death.
 */
export class VersionThread {
  private current?: InferencePool;

  constructor(
    private readonly record: VersionRecord,
    private readonly config: WorkerConfig,
    private readonly limits: PackingLimits,
    private readonly log: Logger,
    private readonly died: (error: Error) => void,
  ) {}

  /** The threads in use; set by {@link use} once they are ready. */
  get client(): InferencePool {
    if (!this.current) throw new Error('no inference thread in use yet');
    return this.current;
  }

  /** Starts new threads and resolves once each has loaded and warmed up its model. */
  start(): Promise<InferencePool> {
    const { config } = this;
    return InferencePool.start(
      config.INFERENCE_THREADS,
      {
        packagePath: resolve(config.MODEL_STORE, this.record.location),
        device: config.DEVICE,
        intraOpNumThreads: config.INTRA_OP_THREADS,
        maxArchiveBytes: config.MAX_ARCHIVE_BYTES,
        maxArchiveEntries: config.MAX_ARCHIVE_ENTRIES,
        allowPackageCode: config.ALLOW_PACKAGE_CODE,
        batching: this.limits,
        bulkPassMs: config.BULK_PASS_MS,
      },
      (message) => this.log.warn(message),
      (error) => this.died(error),
    );
  }

  /** Makes `client` the threads in use. */
  use(client: InferencePool): void {
    this.current = client;
  }
}
