import { HandlerInputError } from './errors';
import type { EncodedText, Handler } from './handler';

/** Texts in the first slice: about two forward passes of a GPU package, tokenized in a few ms. */
export const FIRST_SLICE_TEXTS = 1024;
/** The largest slice: later slices double up to it. */
export const MAX_SLICE_TEXTS = 4096;

/**
 * Where each slice of `count` texts begins and ends: the first {@link FIRST_SLICE_TEXTS}, then
 * slices twice as large as the one before, up to {@link MAX_SLICE_TEXTS}. Pure.
 */
export function tokenizeSlices(count: number): { from: number; to: number }[] {
  const slices: { from: number; to: number }[] = [];
  for (let from = 0, size = FIRST_SLICE_TEXTS; from < count; from += size, size *= 2) {
    size = Math.min(size, MAX_SLICE_TEXTS);
    slices.push({ from, to: Math.min(count, from + size) });
  }
  return slices;
}

/**
 * Tokenizes a run's texts a slice at a time (see {@link tokenizeSlices}), one slice after the
 * other in the background, so that the first forward pass waits for the first slice only and the
 * rest is tokenized while passes run: the built-in handler encodes on the `tokenizers` binding's
 * own threads, which a pass holding the caller's thread does not stop. Slices arrive in order.
 */
export class TokenizeAhead {
  /** Encoded texts, by index in the run; filled a slice at a time. */
  readonly encoded: EncodedText[];
  /** Texts encoded so far (a prefix of the run). */
  private arrivedCount = 0;
  /** Texts already handed out by `take`. */
  private takenCount = 0;
  private failure?: Error;
  private wake?: () => void;
  /** Wall time from the start to the last slice encoded, in ms. */
  preprocessMs = 0;

  constructor(
    private readonly handler: Handler<unknown>,
    private readonly texts: readonly string[],
  ) {
    this.encoded = new Array<EncodedText>(texts.length);
    void this.tokenizeAll();
  }

  /** Whether every text has been handed out by `take`. */
  get drained(): boolean {
    return this.takenCount === this.texts.length;
  }

  /** Whether texts arrived that `take` has not handed out yet. */
  get waiting(): boolean {
    return this.arrivedCount > this.takenCount;
  }

  /**
   * The indices of the texts encoded since the last call, waiting for the next slice when none
   * is; rejects with the error of a slice that failed (an input error names the text by its
   * index in the whole run).
   */
  async take(): Promise<number[]> {
    while (!this.waiting) {
      if (this.failure) throw this.failure;
      if (this.drained) return [];
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    const from = this.takenCount;
    this.takenCount = this.arrivedCount;
    return Array.from({ length: this.arrivedCount - from }, (_, k) => from + k);
  }

  private async tokenizeAll(): Promise<void> {
    const start = performance.now();
    try {
      for (const { from, to } of tokenizeSlices(this.texts.length)) {
        const slice = await this.preprocess(from, to);
        for (let k = 0; k < slice.length; k++) this.encoded[from + k] = slice[k];
        this.arrivedCount = to;
        this.preprocessMs = performance.now() - start;
        this.wakeTaker();
      }
    } catch (error) {
      this.failure = error instanceof Error ? error : new Error(String(error));
      this.wakeTaker();
    }
  }

  private wakeTaker(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private async preprocess(from: number, to: number): Promise<EncodedText[]> {
    try {
      const whole = from === 0 && to === this.texts.length;
      return await this.handler.preprocess(whole ? this.texts : this.texts.slice(from, to));
    } catch (error) {
      // The handler numbers the items of the slice it was given.
      if (from > 0 && error instanceof HandlerInputError)
        throw new HandlerInputError(
          error.message.replace(/\bitem (\d+)/, (_, i: string) => `item ${from + Number(i)}`),
        );
      throw error;
    }
  }
}
