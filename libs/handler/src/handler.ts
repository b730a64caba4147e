import type { ModelManifest } from './manifest';
import type { PackingLimits } from './packing';
import type { RowScores } from './row-scores';

/** Which execution provider the ONNX session should use. `auto` picks CUDA when a GPU is present. */
export type DeviceChoice = 'auto' | 'cuda' | 'cpu';

/** What a handler is given once, before it serves anything. */
export interface HandlerContext {
  /** Directory holding the unpacked model package. */
  readonly modelDir: string;
  /** The package manifest, already validated. */
  readonly manifest: ModelManifest;
  /** Label names, index = class id. */
  readonly labels: readonly string[];
  readonly device: DeviceChoice;
  /** Threads ORT may use inside one operator; 0 lets ORT decide. */
  readonly intraOpNumThreads: number;
  /** Receives one line per notable event (provider fallback, warm-up). */
  readonly log: (message: string) => void;
}

/** One text after `preprocess`: its token ids and their count, so a batcher can budget tokens. */
export interface EncodedText {
  readonly ids: readonly number[];
  readonly typeIds?: readonly number[];
  /** Number of real tokens (ids.length); what a padded batch pays for. */
  readonly length: number;
  /**
   * A text longer than the window, read whole (manifest `windows`): its overlapping windows,
   * the first being this text's own ids. The engine runs each as a row and pools their logits.
   */
  readonly windows?: readonly EncodedText[];
}

/** Raw scores for a batch: `data` is row-major `[rows, width]`. */
export interface InferenceOutput {
  readonly data: Float32Array;
  readonly rows: number;
  readonly width: number;
}

export interface PostprocessOptions {
  /** Include the whole probability vector per text. */
  readonly probabilities?: boolean;
}

/** The answer for one text of the built-in text classifier. */
export interface Prediction {
  label: number;
  label_name: string;
  probability: number;
  probabilities?: number[];
}

/**
 * The contract every handler honours, modelled on TorchServe's BaseHandler.
 * `preprocess` works per text and reports token lengths; `inference` takes one packed batch
 * (any size, padded by the handler to its longest member); `postprocess` returns one result
 * per row, in order. A custom handler is a module in the package whose default export
 * (or `Handler` export) is a class implementing this interface.
 */
export interface Handler<TResult = Prediction> {
  initialize(context: HandlerContext): Promise<void>;
  preprocess(inputs: readonly string[]): Promise<EncodedText[]>;
  inference(batch: readonly EncodedText[]): Promise<InferenceOutput>;
  postprocess(output: InferenceOutput, options?: PostprocessOptions): TResult[];
  /**
   * Optional, for classifiers whose answers are {@link Prediction}s: writes the answers of a
   * batch into typed arrays, row `r` at `at[r]` (see `scoreRows`), so that an inference thread
   * hands back buffers and the answers are made elsewhere by `predictionsOf`.
   */
  scoreRows?(output: InferenceOutput, into: RowScores, at: readonly number[]): void;
  /**
   * A key per text for a result cache: two texts with equal keys must get the same answer, so a
   * key is made from exactly what the answer depends on (the built-in classifier's: the token
   * and type ids the model is given), never from a lossy view of the text such as its
   * normalized form. Without it, the cache keys on the raw text.
   */
  cacheKeys?(inputs: readonly string[]): Promise<string[]>;
  /**
   * Runs a few passes so the first real requests do not pay for lazy initialisation, nor bulk
   * work for shapes never seen: up to the largest passes `limits` allow.
   */
  warmup?(limits?: PackingLimits): Promise<void>;
  dispose(): Promise<void>;
}
