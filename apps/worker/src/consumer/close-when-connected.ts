import type { Worker } from 'bullmq';

/**
 * Closes a BullMQ worker once its connections are up. Closed while its blocking connection still
 * connects (a worker stopped right after it took a version), BullMQ drops that connection, whose
 * start then fails with "Connection is closed." on an emitter that close() has already left
 * without listeners: an uncaught error that ended the process with 1 instead of 0. Waiting costs
 * nothing while Redis answers; while it does not, the stop's grace period bounds the wait.
 */
export async function closeWhenConnected(worker: Worker): Promise<void> {
  await worker.waitUntilReady().catch(() => undefined);
  await worker.close();
}
