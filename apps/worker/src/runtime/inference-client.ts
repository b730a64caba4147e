import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { BatchRecord } from '@app/handler';
import {
  predictionsOf,
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
  /** Every pass that held a window of a text read as several, by text (see `ClassifyOutcome`). */
  windowPasses?: Record<number, number[]>;
  preprocessMs: number;
}

/**
 * The inference thread ended (it exited, or threw outside any request): every request in flight
 * fails with this, and the client answers nothing more. Not the jobs' fault: they are handed back.
 */
export class InferenceThreadExited extends Error {
  override readonly name = 'InferenceThreadExited';
  readonly retryable = true;
}

/** How a group is classified. */
export interface ClassifyOptions {
  /** A group of bulk chunks: run a pass at a time, behind any online group. */
  bulk?: boolean;
  /** Answer each text's whole probability vector (default: the best class only). */
  probabilities?: boolean;
}

interface Waiter {
  resolve: (outcome: GroupOutcome | string[]) => void;
  reject: (error: Error) => void;
}

/**
 * Main-thread side of the inference thread: posts groups of texts and awaits their answers.
 * It watches the thread as TEI's backend health watcher does: the moment the thread exits or
 * throws, requests in flight fail with {@link InferenceThreadExited} and `onDeath` is told.
 */
export class InferenceClient {
  private readonly waiters = new Map<number, Waiter>();
  private nextId = 0;
  private exited?: Error;
  private closing = false;

  private constructor(
    private readonly thread: Worker,
    /** Where the forward pass runs (`cuda` only when the CUDA provider took the graph). */
    readonly runtime: RuntimeReport,
    readonly limits: PackingLimits,
    /** Class names of the package (the thread may answer with typed scores). */
    private readonly labels: readonly string[],
    private readonly log: (message: string) => void,
    private readonly onDeath: (error: Error) => void,
  ) {
    thread.on('message', (message: ThreadMessage) => this.receive(message));
    thread.on('error', (error) =>
      this.fail(new InferenceThreadExited(`inference thread failed: ${error.message}`)),
    );
    thread.on('exit', (code) =>
      this.fail(new InferenceThreadExited(`inference thread exited with code ${code}`)),
    );
  }

  /**
   * Starts the thread and resolves once the model is loaded and warmed up; rejects when the
   * thread reports a load failure or ends first. `onDeath` hears of an end after that, once,
   * unless `close()` caused it.
   */
  static start(
    options: InferenceThreadOptions,
    log: (message: string) => void,
    onDeath: (error: Error) => void = () => undefined,
  ): Promise<InferenceClient> {
    const thread = new Worker(join(__dirname, 'inference-thread.js'), { workerData: options });
    return new Promise((resolve, reject) => {
      const settle = (outcome: () => void) => {
        thread.off('message', onMessage);
        thread.off('error', onError);
        thread.off('exit', onExit);
        outcome();
      };
      const onError = (error: Error) =>
        settle(() => {
          void thread.terminate();
          reject(new ModelPackageError(`inference thread failed to start: ${error.message}`));
        });
      const onExit = (code: number) =>
        settle(() =>
          reject(new ModelPackageError(`inference thread exited with code ${code} while starting`)),
        );
      const onMessage = (message: ThreadMessage) => {
        if (message.type === 'log') return log(message.message);
        if (message.type === 'ready') {
          return settle(() =>
            resolve(
              new InferenceClient(thread, message.runtime, message, message.labels, log, onDeath),
            ),
          );
        }
        settle(() => {
          void thread.terminate();
          reject(
            new ModelPackageError(
              message.type === 'fatal' ? message.message : 'inference thread failed to start',
            ),
          );
        });
      };
      thread.on('message', onMessage);
      thread.on('error', onError);
      thread.on('exit', onExit);
    });
  }

  /**
   * Classifies texts (packed and batched in the thread); answers come back in input order. An
   * online group posted while a `bulk` one runs goes before the bulk group's next pass.
   */
  classify(texts: string[], options: ClassifyOptions = {}): Promise<GroupOutcome> {
    const { bulk, probabilities } = options;
    return this.request({ id: this.nextId++, texts, bulk, probabilities }) as Promise<GroupOutcome>;
  }

  /** Each text's result-cache key (see `Handler.cacheKeys`), in input order. */
  cacheKeys(texts: string[]): Promise<string[]> {
    return this.request({ id: this.nextId++, texts, cacheKeys: true }) as Promise<string[]>;
  }

  private request(request: ClassifyRequest): Promise<GroupOutcome | string[]> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      this.waiters.set(request.id, { resolve, reject });
      this.thread.postMessage(request);
    });
  }

  /**
   * Ends the thread at once, without waiting for its pass: its requests in flight fail with
   * {@link InferenceThreadExited} (their jobs are handed back), and `onDeath` is not told.
   */
  async terminate(): Promise<void> {
    this.closing = true;
    await this.thread.terminate();
  }

  /** Disposes of the model and ends the thread (forcibly after 5 s). */
  async close(): Promise<void> {
    this.closing = true;
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
    if (message.type === 'result') {
      const { scores, results, batches, batchOf, windowPasses, preprocessMs } = message;
      return waiter.resolve({
        results: scores ? predictionsOf(scores, this.labels) : results,
        batches,
        batchOf,
        ...(windowPasses ? { windowPasses } : {}),
        preprocessMs,
      });
    }
    if (message.type === 'cacheKeys') return waiter.resolve(message.keys);
    // The thread's typed error crosses as its name; its class says whether a retry can help.
    const ErrorClass = { HandlerInputError, ModelPackageError }[message.name] ?? InferenceError;
    waiter.reject(new ErrorClass(message.message));
  }

  private fail(error: Error): void {
    if (this.exited) return;
    this.exited = error;
    if (!this.closing) this.onDeath(error);
    for (const waiter of this.waiters.values()) waiter.reject(error);
    this.waiters.clear();
  }
}
