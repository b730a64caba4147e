import type { EncodedText, Handler, InferenceOutput, PostprocessOptions } from './handler';
import { batchTokens, packByTokenBudget, type PackingLimits } from './packing';
import { allocateRowScores, type RowScores } from './row-scores';
import { TokenizeAhead } from './tokenize-ahead';

/** How a group is scored. */
export interface ScoringOptions extends PostprocessOptions {
  /**
   * Keep the answers as typed arrays (`ClassifyOutcome.scores`, `results` left empty) when the
   * handler can write them (`Handler.scoreRows`): no object per text.
   */
  readonly rowScores?: boolean;
}

/** Figures of one forward pass. */
export interface BatchRecord {
  size: number;
  realTokens: number;
  paddedTokens: number;
  /**
   * When the pass began, in ms since the Unix epoch (fractional): comparable across threads and
   * processes, so that a benchmark can lay the passes of a worker on its own clock.
   */
  startedAt: number;
  inferenceMs: number;
}

/** Results of `classifyTexts`, in input order, with what each batch cost. */
export interface ClassifyOutcome<T> {
  /** Empty when the answers are in `scores`. */
  results: T[];
  /** The answers as typed arrays, when asked for and the handler writes them. */
  scores?: RowScores;
  batches: BatchRecord[];
  /**
   * For each text, the index in `batches` of the forward pass that held it (of a text read as
   * windows, the pass that held its last).
   */
  batchOf: number[];
  /**
   * For each text read as several windows (manifest `windows`), by index: every pass that held
   * one of its windows. Absent when no text of the group was.
   */
  windowPasses?: Record<number, number[]>;
  preprocessMs: number;
}

/**
 * Tokenizes all texts at once, sorts them by length, packs them under the token budget,
 * runs each packed batch and puts the answers back in input order. This is what a worker's
 * inference thread, the offline CLI and the benchmarks all run.
 */
export async function classifyTexts<T>(
  handler: Handler<T>,
  texts: readonly string[],
  limits: PackingLimits,
  options: ScoringOptions = {},
): Promise<ClassifyOutcome<T>> {
  const run = await ScoringRun.start(handler, texts, options);
  while (!run.done) await run.runPass(limits);
  return run.outcome;
}

/**
 * One group of texts scored a forward pass at a time, so that its owner can run other work
 * between passes and choose the packing limits of each pass. The texts are tokenized a slice at
 * a time in the background ({@link TokenizeAhead}): the first pass waits for the first slice
 * only. The texts tokenized and not yet scored are packed by {@link packByTokenBudget} under the
 * limits of the pass asked for, a slice's passes after those of the slices before it; the
 * packing is kept while the limits stay the same, and everything left is packed again when they
 * change. What is packed are rows: a text, or one window of a text read as several
 * (`EncodedText.windows`), packed like any other row; such a text is answered once its last
 * window has run, from the mean of its windows' logits.
 */
export class ScoringRun<T> {
  private readonly results: T[];
  private readonly batches: BatchRecord[] = [];
  private readonly batchOf: number[];
  private readonly tokens: TokenizeAhead;
  /** What the passes run, in the order the texts arrived: a text, or a window of one. */
  private readonly rows: EncodedText[] = [];
  /** The text of each row. */
  private readonly textOf: number[] = [];
  /** Each text read as several windows: its windows not yet run, logits summed, passes. */
  private readonly windowed = new Map<
    number,
    { count: number; left: number; sums?: Float64Array; passes: number[] }
  >();
  /** Passes still to run, as indices into the rows; packed under `plannedFor`. */
  private plan: number[][] = [];
  private plannedFor?: PackingLimits;
  /** Rows tokenized before any limits were known (the first slice), not in `plan`. */
  private unplanned: number[] = [];
  private scored = 0;
  /** Typed answers, allocated at the first pass (its output says the width). */
  private scores?: RowScores;

  private constructor(
    private readonly handler: Handler<T>,
    private readonly count: number,
    texts: readonly string[],
    private readonly options: ScoringOptions,
  ) {
    this.results = new Array<T>(options.rowScores && handler.scoreRows ? 0 : count);
    this.batchOf = new Array<number>(count);
    this.tokens = new TokenizeAhead(handler, texts);
  }

  /**
   * Starts tokenizing the texts and resolves once the first slice is tokenized; no forward pass
   * runs yet. Rejects with the first slice's error (a later slice's comes from `runPass`).
   */
  static async start<T>(
    handler: Handler<T>,
    texts: readonly string[],
    options: ScoringOptions = {},
  ): Promise<ScoringRun<T>> {
    const run = new ScoringRun(handler, texts.length, texts, options);
    await run.fill();
    return run;
  }

  /** Whether every text has been scored. */
  get done(): boolean {
    return this.scored === this.count;
  }

  /** Texts not yet scored. */
  get remaining(): number {
    return this.count - this.scored;
  }

  /** Takes the texts tokenized since the last look into the plan, waiting when none is left. */
  private async fill(): Promise<void> {
    const inHand = this.plan.length > 0 || this.unplanned.length > 0;
    if (inHand && !this.tokens.waiting) return;
    const texts = await this.tokens.take();
    if (texts.length === 0) return;
    const arrived = texts.flatMap((text) => this.rowsOf(text));
    if (this.plannedFor) this.plan.push(...this.pack(arrived, this.plannedFor));
    else this.unplanned.push(...arrived);
  }

  /** Adds a text's rows (itself, or each of its windows) and returns their indices. */
  private rowsOf(text: number): number[] {
    const encoded = this.tokens.encoded[text];
    const parts = encoded.windows && encoded.windows.length > 1 ? encoded.windows : [encoded];
    if (parts.length > 1) {
      this.windowed.set(text, { count: parts.length, left: parts.length, passes: [] });
    }
    return parts.map((part) => {
      this.rows.push(part);
      this.textOf.push(text);
      return this.rows.length - 1;
    });
  }

  private pack(indices: readonly number[], limits: PackingLimits): number[][] {
    return packByTokenBudget(
      indices.map((i) => this.rows[i].length),
      limits,
    ).map((pass) => pass.map((k) => indices[k]));
  }

  /** Runs the next forward pass, packed under `limits`, and returns what it cost. */
  async runPass(limits: PackingLimits): Promise<BatchRecord> {
    if (this.done) throw new Error('every text of this run has been scored');
    await this.fill();
    if (!this.plannedFor || !sameLimits(this.plannedFor, limits)) {
      this.plan = this.pack([...this.unplanned, ...this.plan.flat()], limits);
      this.unplanned = [];
      this.plannedFor = limits;
    }
    const rows = this.plan.shift()!;
    const batch = rows.map((i) => this.rows[i]);
    const t0 = performance.now();
    const output = await this.handler.inference(batch);
    const inferenceMs = performance.now() - t0;
    const [answered, indices] = rows.some((row) => this.windowed.has(this.textOf[row]))
      ? this.pool(output, rows)
      : [output, rows.map((row) => this.textOf[row])];
    for (const i of indices) this.batchOf[i] = this.batches.length;
    if (this.options.rowScores && this.handler.scoreRows) {
      this.scores ??= allocateRowScores(this.count, output.width, this.options);
      this.handler.scoreRows(answered, this.scores, indices);
    } else {
      this.handler.postprocess(answered, this.options).forEach((result, row) => {
        this.results[indices[row]] = result;
      });
    }
    const tokens = batchTokens(batch.map((e) => e.length));
    const record = {
      size: batch.length,
      realTokens: tokens.real,
      paddedTokens: tokens.padded,
      startedAt: performance.timeOrigin + t0,
      inferenceMs,
    };
    this.batches.push(record);
    this.scored += indices.length;
    return record;
  }

  /**
   * The logits of the texts this pass finished, and those texts: a text of one row, its own
   * logits; a text read as windows whose last window ran here, the mean of its windows' logits
   * (the others' logits are added to their sums, to be answered by a later pass).
   */
  private pool(output: InferenceOutput, rows: readonly number[]): [InferenceOutput, number[]] {
    const { width, data } = output;
    const pass = this.batches.length;
    const texts: number[] = [];
    const logits: ArrayLike<number>[] = [];
    rows.forEach((row, r) => {
      const text = this.textOf[row];
      const own = data.subarray(r * width, (r + 1) * width);
      const windows = this.windowed.get(text);
      if (!windows) {
        texts.push(text);
        logits.push(own);
        return;
      }
      const sums = (windows.sums ??= new Float64Array(width));
      for (let c = 0; c < width; c++) sums[c] += own[c];
      if (windows.passes[windows.passes.length - 1] !== pass) windows.passes.push(pass);
      if (--windows.left === 0) {
        texts.push(text);
        logits.push(sums.map((sum) => sum / windows.count));
      }
    });
    const pooled = new Float32Array(texts.length * width);
    logits.forEach((values, k) => pooled.set(values, k * width));
    return [{ data: pooled, rows: texts.length, width }, texts];
  }

  /** Answers in input order and the passes that made them (complete once `done`). */
  get outcome(): ClassifyOutcome<T> {
    const { results, batches, batchOf, scores } = this;
    const { preprocessMs } = this.tokens;
    const windowPasses = this.windowed.size
      ? Object.fromEntries([...this.windowed].map(([text, w]) => [text, w.passes]))
      : undefined;
    return {
      results,
      batches,
      batchOf,
      preprocessMs,
      ...(scores ? { scores } : {}),
      ...(windowPasses ? { windowPasses } : {}),
    };
  }
}

function sameLimits(a: PackingLimits, b: PackingLimits): boolean {
  return (
    a.maxBatchTokens === b.maxBatchTokens &&
    a.maxBatchSize === b.maxBatchSize &&
    (a.passOverheadTokens ?? 0) === (b.passOverheadTokens ?? 0)
  );
}
