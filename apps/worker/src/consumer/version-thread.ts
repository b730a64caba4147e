import { resolve } from 'node:path';
import type { Logger } from '@app/common';
import type { PackingLimits } from '@app/handler/package';
import type { VersionRecord } from '@app/registry';
import type { WorkerConfig } from '../config';
import { InferenceClient } from '../runtime/inference-client';

/**
 * The inference thread of one model version: how one is started (the version's package, the
 * worker's settings), and the one in use. A thread that dies is replaced by a new one through
 * {@link ThreadRecovery}; `died` hears each death.
 */
export class VersionThread {
  private current?: InferenceClient;

  constructor(
    private readonly record: VersionRecord,
    private readonly config: WorkerConfig,
    private readonly limits: PackingLimits,
    private readonly log: Logger,
    private readonly died: (error: Error) => void,
  ) {}

  /** The thread in use; set by {@link use} once one is ready. */
  get client(): InferenceClient {
    if (!this.current) throw new Error('no inference thread in use yet');
    return this.current;
  }

  /** Starts a new thread and resolves once its model is loaded and warmed up. */
  start(): Promise<InferenceClient> {
    const { config } = this;
    return InferenceClient.start(
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

  /** Makes `client` the thread in use. */
  use(client: InferenceClient): void {
    this.current = client;
  }
}
