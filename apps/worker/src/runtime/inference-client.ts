import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { BatchRecord } from '@app/handler';
import {
  HandlerInputError,
  InferenceError,
  ModelPackageError,
  type PackingLimits,
} from '@app/handler/package';
import type {
  ClassifyRequest,
  InferenceThreadOptions,
  RuntimeReport,
  ThreadMessage,
} from './protocol';

/** Answer of the inference thread for one group of texts. */
export interface GroupOutcome {
  results: unknown[];
  batches: BatchRecord[];
  batchOf: number[];
  preprocessMs: number;
}

interface Waiter {
  resolve: (outcome: GroupOutcome) => void;
  reject: (error: Error) => void;
}

/** Main-thread side of the inference thread: posts groups of texts and awaits their answers. */
export class InferenceClient {
  private readonly waiters = new Map<number, Waiter>();
  private nextId = 0;
  private exited?: Error;

  private constructor(
    private readonly thread: Worker,
    /** Where the forward pass runs (`cuda` only when the CUDA provider took the graph). */
    readonly runtime: RuntimeReport,
    readonly limits: PackingLimits,
    private readonly log: (message: string) => void,
  ) {
    thread.on('message', (message: ThreadMessage) => this.receive(message));
    thread.on('error', (error) => this.fail(error));
    thread.on('exit', (code) =>
      this.fail(new InferenceError(`inference thread exited with code ${code}`)),
    );
  }

  /** Starts the thread and resolves once the model is loaded and warmed up. */
  static start(
    options: InferenceThreadOptions,
    log: (message: string) => void,
  ): Promise<InferenceClient> {
    const thread = new Worker(join(__dirname, 'inference-thread.js'), { workerData: options });
    return new Promise((resolve, reject) => {
      const onMessage = (message: ThreadMessage) => {
        if (message.type === 'log') return log(message.message);
        thread.off('message', onMessage);
        thread.off('error', reject);
        if (message.type === 'ready') {
          resolve(new InferenceClient(thread, message.runtime, message, log));
        } else {
          void thread.terminate();
          reject(
            new ModelPackageError(
              message.type === 'fatal' ? message.message : 'inference thread failed to start',
            ),
          );
        }
      };
      thread.on('message', onMessage);
      thread.once('error', reject);
    });
  }

  /** Classifies texts (packed and batched in the thread); answers come back in input order. */
  classify(texts: string[]): Promise<GroupOutcome> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiters.set(id, { resolve, reject });
      this.thread.postMessage({ id, texts } satisfies ClassifyRequest);
    });
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise((resolve) => this.thread.once('exit', resolve));
    this.thread.postMessage('dispose');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000).unref())]);
    await this.thread.terminate();
  }

  private receive(message: ThreadMessage): void {
    if (message.type === 'log') return this.log(message.message);
    if (message.type === 'ready' || message.type === 'fatal') return;
    const waiter = this.waiters.get(message.id);
    if (!waiter) return;
    this.waiters.delete(message.id);
    if (message.type === 'result') return waiter.resolve(message);
    // The thread's typed error crosses as its name; its class says whether a retry can help.
    const ErrorClass =
      { HandlerInputError, ModelPackageError }[message.name as string] ?? InferenceError;
    waiter.reject(new ErrorClass(message.message));
  }

  private fail(error: Error): void {
    this.exited ??= error;
    for (const waiter of this.waiters.values()) waiter.reject(error);
    this.waiters.clear();
  }
}
