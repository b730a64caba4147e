/**
 * Entry of the inference thread. It owns the ORT session, so a forward pass (which holds its
 * thread for the whole run) never stalls the main thread's Redis traffic, lock renewals and
 * heartbeats. It takes groups of texts, packs them by token budget and answers each in input
 * order; an online group goes before the rest of a bulk group (see InferenceQueue).
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { onnxRuntimeVersion, openModel, type Placement } from '@app/handler';
import { BulkPassPolicy } from './bulk-pass-policy';
import { InferenceQueue } from './inference-queue';
import type { ClassifyRequest, InferenceThreadOptions, ThreadMessage } from './protocol';

const port = parentPort!;
const post = (message: ThreadMessage, transfer: ArrayBuffer[] = []) =>
  port.postMessage(message, transfer);

async function start(options: InferenceThreadOptions): Promise<void> {
  const { pkg, handler } = await openModel(options.packagePath, {
    device: options.device,
    intraOpNumThreads: options.intraOpNumThreads,
    maxArchiveBytes: options.maxArchiveBytes,
    maxArchiveEntries: options.maxArchiveEntries,
    allowPackageCode: options.allowPackageCode,
    limits: options.batching,
    log: (message) => post({ type: 'log', message }),
  });
  const limits = options.batching;
  // Keys take no place in the queue: they answer as soon as the handler has made them (the
  // built-in one's tokenizer works on its own threads), at worst after the pass in progress.
  const cacheKeys = async (request: ClassifyRequest) => {
    try {
      const keys = (await handler.cacheKeys?.(request.texts)) ?? request.texts;
      post({ type: 'cacheKeys', id: request.id, keys });
    } catch (error) {
      const e = error instanceof Error ? error : new Error(String(error));
      post({ type: 'error', id: request.id, name: e.name, message: e.message });
    }
  };
  const receive = (request: ClassifyRequest | 'dispose') => {
    if (request !== 'dispose')
      return request.cacheKeys ? void cacheKeys(request) : queue.push(request);
    // Whether or not the session lets go cleanly, the thread is done.
    void handler
      .dispose()
      .catch(() => undefined)
      .then(() => pkg.release())
      .finally(() => port.close());
  };
  const queue = new InferenceQueue(
    handler,
    limits,
    new BulkPassPolicy(limits, options.bulkPassMs),
    post,
    () => {
      for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port))
        receive(m.message as ClassifyRequest | 'dispose');
    },
  );
  port.on('message', receive);
  const { provider = 'cpu', placement } = handler as { provider?: string; placement?: Placement };
  const runtime = { provider, onnxruntime: onnxRuntimeVersion(), nodes: placement?.nodes };
  post({ type: 'ready', runtime, labels: [...pkg.labels], ...limits });
}

start(workerData as InferenceThreadOptions).catch((error: unknown) => {
  post({ type: 'fatal', message: error instanceof Error ? error.message : String(error) });
});
