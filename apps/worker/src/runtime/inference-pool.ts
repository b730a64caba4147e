import type { PackingLimits } from '@app/handler/package';
import { InferenceClient, type ClassifyOptions, type GroupOutcome } from './inference-client';
import type { InferenceThreadOptions, RuntimeReport } from './protocol';

/**
 * The inference threads of one model version in one worker, each with its own ORT session (on
 * a GPU, its own CUDA stream), fed by the one grouper: while one thread does its host work
 * (copying tensors, reading logits), another's pass runs on the device. Each group goes to the
 * thread with the fewest texts in hand. The threads live and die together: when one dies, the
 * others are ended at once (their groups fail with `InferenceThreadExited`, and their jobs are
 * handed back) and `onDeath` hears of it once, so a recovery restarts them all.
 */
export class InferencePool {
  private readonly inHand: number[];
  /** Groups each thread answered, in thread order. */
  readonly answered: number[];
  private dead = false;

  private constructor(private readonly clients: InferenceClient[]) {
    this.inHand = clients.map(() => 0);
    this.answered = clients.map(() => 0);
  }

  /**
   * Starts `count` threads, one after the other (each loads and warms its model), and resolves
   * once all are ready; when one fails to start, ends those started and rejects.
   */
  static async start(
    count: number,
    options: InferenceThreadOptions,
    log: (message: string) => void,
    onDeath: (error: Error) => void = () => undefined,
  ): Promise<InferencePool> {
    const started: { pool?: InferencePool } = {};
    let diedStarting: Error | undefined;
    const died = (error: Error) =>
      started.pool ? started.pool.threadDied(error, onDeath) : (diedStarting ??= error);
    const clients: InferenceClient[] = [];
    try {
      for (let i = 0; i < count; i++) clients.push(await InferenceClient.start(options, log, died));
      if (diedStarting) throw diedStarting;
    } catch (error) {
      await Promise.all(clients.map((client) => client.terminate()));
      throw error;
    }
    started.pool = new InferencePool(clients);
    return started.pool;
  }

  /** Where the forward passes run (every thread opens the same package alike). */
  get runtime(): RuntimeReport {
    return this.clients[0].runtime;
  }

  get limits(): PackingLimits {
    return this.clients[0].limits;
  }

  /** Number of threads. */
  get size(): number {
    return this.clients.length;
  }

  /** Classifies a group on the thread with the fewest texts in hand (see InferenceClient). */
  async classify(texts: string[], options: ClassifyOptions = {}): Promise<GroupOutcome> {
    const k = this.leastBusy();
    this.inHand[k] += texts.length;
    try {
      const outcome = await this.clients[k].classify(texts, options);
      this.answered[k]++;
      return outcome;
    } finally {
      this.inHand[k] -= texts.length;
    }
  }

  /** Each text's result-cache key (see `Handler.cacheKeys`), in input order. */
  cacheKeys(texts: string[]): Promise<string[]> {
    return this.clients[this.leastBusy()].cacheKeys(texts);
  }

  /** Disposes of every thread's model and ends the threads. */
  async close(): Promise<void> {
    await Promise.all(this.clients.map((client) => client.close()));
  }

  private leastBusy(): number {
    let best = 0;
    for (let k = 1; k < this.inHand.length; k++) if (this.inHand[k] < this.inHand[best]) best = k;
    return best;
  }

  private threadDied(error: Error, onDeath: (error: Error) => void): void {
    if (this.dead) return;
    this.dead = true;
    for (const client of this.clients) void client.terminate();
    onDeath(error);
  }
}
