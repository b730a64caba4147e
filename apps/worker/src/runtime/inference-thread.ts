/**
 * Entry of the inference thread. It owns the ORT session, so a forward pass (which holds its
 * thread for the whole run) never stalls the main thread's Redis traffic, lock renewals and
 * heartbeats. It takes groups of texts, packs them by token budget and answers in order.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { classifyTexts, onnxRuntimeVersion, openModel, type Placement } from '@app/handler';
import type { ClassifyRequest, InferenceThreadOptions, ThreadMessage } from './protocol';

const port = parentPort!;
const post = (message: ThreadMessage) => port.postMessage(message);

async function start(options: InferenceThreadOptions): Promise<void> {
  const { pkg, handler } = await openModel(options.packagePath, {
    device: options.device,
    intraOpNumThreads: options.intraOpNumThreads,
    maxArchiveBytes: options.maxArchiveBytes,
    maxArchiveEntries: options.maxArchiveEntries,
    allowPackageCode: options.allowPackageCode,
    log: (message) => post({ type: 'log', message }),
  });
  const limits = options.batching;
  const classify = async (request: ClassifyRequest) => {
    try {
      if (request.normalize) {
        const texts = handler.normalize?.(request.texts) ?? request.texts;
        return post({ type: 'normalized', id: request.id, texts });
      }
      const outcome = await classifyTexts(handler, request.texts, limits, { probabilities: true });
      post({ type: 'result', id: request.id, ...outcome });
    } catch (error) {
      const e = error instanceof Error ? error : new Error(String(error));
      post({ type: 'error', id: request.id, name: e.name, message: e.message });
    }
  };
  port.on('message', (request: ClassifyRequest | 'dispose') => {
    if (request !== 'dispose') return void classify(request);
    // Whether or not the session lets go cleanly, the thread is done.
    void handler
      .dispose()
      .catch(() => undefined)
      .then(() => pkg.release())
      .finally(() => port.close());
  });
  const { provider = 'cpu', placement } = handler as { provider?: string; placement?: Placement };
  const runtime = { provider, onnxruntime: onnxRuntimeVersion(), nodes: placement?.nodes };
  post({ type: 'ready', runtime, ...limits });
}

start(workerData as InferenceThreadOptions).catch((error: unknown) => {
  post({ type: 'fatal', message: error instanceof Error ? error.message : String(error) });
});
