import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { EncodedText } from './handler';
import type { TokenizerSource } from './tokenizer';

/** What an encoding thread is started with. */
export interface EncodingThreadOptions {
  source: TokenizerSource;
  maxLength: number;
}

/** Owner → encoding thread. */
export interface EncodingRequest {
  id: number;
  texts: readonly string[];
}

/**
 * Encoding thread → owner: every text's ids laid end to end (text `i` from `offsets[i]` to
 * `offsets[i + 1]`), its type ids only when one is not 0; or why it failed.
 */
export type EncodingReply =
  | { id: number; ids: Int32Array; offsets: Int32Array; typeIds?: Int32Array; error?: undefined }
  | { id: number; error: string };

interface Waiter {
  resolve: (encoded: EncodedText[]) => void;
  reject: (error: Error) => void;
}

/**
 * A thread of its own that tokenizes for a handler: the `tokenizers` binding encodes on its own
 * threads, but reading the ids back (a native call per text, and an array made per text) runs
 * on the thread that asked, and a forward pass (onnxruntime-node's `run`, or a GPU's
 * synchronisation) holds that thread. Here the reading back runs beside the pass, and the ids
 * cross as one transferred buffer. It keeps the process alive only while a request is in flight.
 * When the thread fails or
 * ends, every request in flight rejects and `failed` says so: the owner then encodes in its own
 * thread.
 */
export class EncodingThread {
  private readonly thread: Worker;
  private readonly waiters = new Map<number, Waiter>();
  private nextId = 0;
  /** Why the thread can no longer encode, once it cannot. */
  failed?: Error;

  constructor(options: EncodingThreadOptions) {
    this.thread = new Worker(join(__dirname, 'encoding-thread-entry.js'), { workerData: options });
    this.thread.on('message', (reply: EncodingReply) => this.receive(reply));
    this.thread.on('error', (error) => this.fail(error));
    this.thread.on('exit', (code) =>
      this.fail(new Error(`encoding thread exited with code ${code}`)),
    );
    // After the listeners, which hold the process again: idle, the thread holds nothing.
    this.thread.unref();
  }

  /** Token ids (and type ids) of each text, in input order. */
  encode(texts: readonly string[]): Promise<EncodedText[]> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    const request: EncodingRequest = { id, texts };
    return new Promise((resolve, reject) => {
      // A request in flight keeps the process alive until it is answered.
      if (this.waiters.size === 0) this.thread.ref();
      this.waiters.set(id, { resolve, reject });
      this.thread.postMessage(request);
    });
  }

  /** Ends the thread; requests in flight reject. */
  async close(): Promise<void> {
    this.fail(new Error('encoding thread closed'));
    await this.thread.terminate();
  }

  private receive(reply: EncodingReply): void {
    const waiter = this.waiters.get(reply.id);
    if (!waiter) return;
    this.waiters.delete(reply.id);
    if (this.waiters.size === 0) this.thread.unref();
    if (reply.error !== undefined) return waiter.reject(new Error(reply.error));
    const { ids, offsets, typeIds } = reply;
    const encoded = new Array<EncodedText>(offsets.length - 1);
    for (let i = 0; i < encoded.length; i++) {
      const from = offsets[i];
      const to = offsets[i + 1];
      encoded[i] = {
        ids: Array.from(ids.subarray(from, to)),
        // None sent: every type id is 0, which is what the handler feeds for none.
        typeIds: typeIds ? Array.from(typeIds.subarray(from, to)) : undefined,
        length: to - from,
      };
    }
    waiter.resolve(encoded);
  }

  private fail(error: Error): void {
    this.failed ??= error;
    for (const waiter of this.waiters.values()) waiter.reject(this.failed);
    this.waiters.clear();
    this.thread.unref();
  }
}
