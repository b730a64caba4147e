/**
 * Entry of an encoding thread (see {@link EncodingThread}): loads the tokenizer it is given and
 * answers each request with the token ids of its texts, flat, as transferred buffers.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { EncodingReply, EncodingRequest, EncodingThreadOptions } from './encoding-thread';
import { TextTokenizer } from './tokenizer';

const port = parentPort!;
const { source, maxLength } = workerData as EncodingThreadOptions;
const loading = TextTokenizer.load(source, maxLength);
// A load failure is answered to every request (the owner then encodes in its own thread).
loading.catch(() => undefined);

port.on('message', ({ id, texts }: EncodingRequest) => {
  void (async () => {
    try {
      const encoded = await (await loading).encode(texts);
      const offsets = new Int32Array(encoded.length + 1);
      encoded.forEach((e, i) => (offsets[i + 1] = offsets[i] + e.length));
      const ids = new Int32Array(offsets[encoded.length]);
      let typeIds: Int32Array | undefined;
      encoded.forEach((e, i) => {
        ids.set(e.ids, offsets[i]);
        if (e.typeIds?.some((t) => t !== 0)) {
          typeIds ??= new Int32Array(ids.length);
          typeIds.set(e.typeIds, offsets[i]);
        }
      });
      const reply: EncodingReply = { id, ids, offsets, typeIds };
      const buffers = [ids, offsets, ...(typeIds ? [typeIds] : [])].map(
        (a) => a.buffer as ArrayBuffer,
      );
      port.postMessage(reply, buffers);
    } catch (error) {
      const reply: EncodingReply = {
        id,
        error: error instanceof Error ? error.message : String(error),
      };
      port.postMessage(reply);
    }
  })();
});
