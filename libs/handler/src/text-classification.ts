import { join } from 'node:path';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type {
  EncodedText,
  Handler,
  HandlerContext,
  InferenceOutput,
  PostprocessOptions,
  Prediction,
} from './handler';
import { HandlerInputError, InferenceError, ModelPackageError } from './errors';
import {
  openSession,
  type OpenedSession,
  type Placement,
  type Provider,
  type SessionOptions,
} from './onnx-session';
import { windowingOf } from './manifest';
import type { PackingLimits } from './packing';
import { allocateRowScores, predictionsOf, scoreRows, type RowScores } from './row-scores';
import { onnxRuntime } from './ort';
import { EncodingThread } from './encoding-thread';
import { TextTokenizer } from './tokenizer';

/**
 * Groups of at least this many texts are tokenized by the handler's encoding thread; smaller
 * ones (online calls) in the caller's thread, where they pay no round trip.
 */
export const ENCODING_THREAD_MIN_TEXTS = 256;

const REQUIRED_INPUTS = ['input_ids', 'attention_mask'];
const OPTIONAL_INPUTS = ['token_type_ids'];
const OUTPUT = 'logits';

/**
 * Opens the graph a package's `model_file` names. ONNX Runtime's {@link openSession} by default;
 * a test device stands in for it where the forward pass itself is not what is measured.
 */
export type GraphOpener = (modelFile: string, options: SessionOptions) => Promise<OpenedSession>;

/**
 * The built-in BERT sequence classifier: `tokenizers` for WordPiece, onnxruntime-node for the
 * forward pass, softmax for the answer. Reads an exported Hugging Face layout: `model.onnx`
 * (inputs `input_ids`, `attention_mask`, optionally `token_type_ids`; output `logits`)
 * and `tokenizer.json` or `vocab.txt`.
 */
export class TextClassificationHandler implements Handler<Prediction> {
  private tokenizer!: TextTokenizer;
  private encoder?: EncodingThread;
  private session!: InferenceSession;
  private labels: readonly string[] = [];
  private usesTypeIds = false;
  private maxBatchSize = 1;
  private maxBatchTokens = 1;
  private maxLength = 2;
  private truncate = true;
  private padMultiple = 1;
  /** Where the forward pass runs, known once initialised. */
  provider: Provider = 'cpu';
  /** Where ORT placed the graph's nodes (CUDA sessions only). */
  placement?: Placement;

  constructor(private readonly openGraph: GraphOpener = openSession) {}

  async initialize(context: HandlerContext): Promise<void> {
    const { manifest, modelDir } = context;
    this.labels = context.labels;
    this.maxBatchSize = manifest.batching.max_batch_size;
    this.maxBatchTokens = manifest.batching.max_batch_tokens;
    this.maxLength = manifest.max_length;
    this.padMultiple = manifest.batching.pad_to_multiple_of;
    const source = manifest.tokenizer_file
      ? { tokenizerFile: join(modelDir, manifest.tokenizer_file) }
      : manifest.vocab_file
        ? { vocabFile: join(modelDir, manifest.vocab_file), lowercase: manifest.do_lower_case }
        : undefined;
    if (!source) {
      throw new ModelPackageError('manifest names neither tokenizer_file nor vocab_file');
    }
    if (!manifest.model_file) throw new ModelPackageError('manifest names no model_file');
    const windows = windowingOf(manifest);
    // Read as windows, a long text is neither cut nor refused.
    this.truncate = manifest.truncation || windows !== undefined;
    // Without truncation, one token more than the window is enough to tell a text is too long.
    const window = this.truncate ? manifest.max_length : manifest.max_length + 1;
    this.tokenizer = await TextTokenizer.load(source, window, windows);
    // The encoding thread sends back one row of ids per text: a package that reads long texts
    // as windows tokenizes on this thread.
    if (!windows) this.encoder = new EncodingThread({ source, maxLength: window });
    const opened = await this.openGraph(join(modelDir, manifest.model_file), context);
    this.session = opened.session;
    this.provider = opened.provider;
    this.placement = opened.placement;
    this.usesTypeIds = checkGraph(this.session, manifest.model_file, this.labels.length);
  }

  async preprocess(inputs: readonly string[]): Promise<EncodedText[]> {
    inputs.forEach((text, i) => {
      if (typeof text !== 'string') throw new HandlerInputError(`item ${i} is not a string`);
      if (text.trim() === '') throw new HandlerInputError(`item ${i} is an empty text`);
    });
    const encoded = await this.encode(inputs);
    if (!this.truncate) {
      const long = encoded.findIndex((item) => item.length > this.maxLength);
      if (long >= 0) {
        throw new HandlerInputError(
          `item ${long} is longer than the model's ${this.maxLength} tokens, and this model ` +
            'does not truncate texts (truncation: false in its manifest)',
        );
      }
    }
    return encoded;
  }

  private async encode(inputs: readonly string[]): Promise<EncodedText[]> {
    if (this.encoder && !this.encoder.failed && inputs.length >= ENCODING_THREAD_MIN_TEXTS) {
      // A failed encoding thread (or a text it could not encode) leaves it to this thread.
      try {
        return await this.encoder.encode(inputs);
      } catch {
        return this.tokenizer.encode(inputs);
      }
    }
    return this.tokenizer.encode(inputs);
  }

  /**
   * The token and type ids of each text (of each of its windows, when it is read as several):
   * the model is given nothing else (its attention mask is their length), so texts that tokenize
   * alike get the same answer, and no others share a key.
   */
  async cacheKeys(inputs: readonly string[]): Promise<string[]> {
    const encoded = await this.tokenizer.encode(inputs);
    const key = ({ ids, typeIds }: EncodedText): string =>
      `${ids.join(' ')}|${typeIds?.join(' ') ?? ''}`;
    return encoded.map((e) => (e.windows ? e.windows.map(key).join('/') : key(e)));
  }

  async inference(batch: readonly EncodedText[]): Promise<InferenceOutput> {
    const rows = batch.length;
    if (rows === 0) return { data: new Float32Array(0), rows: 0, width: this.labels.length };
    const longest = batch.reduce((max, item) => Math.max(max, item.length), 0);
    // Tensor cores want dimensions in multiples of 8; the padding is masked out.
    const width = Math.ceil(longest / this.padMultiple) * this.padMultiple;
    // int64 tensors filled through 32-bit views: ids are small and non-negative, so the high
    // word stays 0, and no BigInt is made per token.
    const ids = new BigInt64Array(rows * width);
    const mask = new BigInt64Array(rows * width);
    const types = new BigInt64Array(rows * width);
    const ids32 = new Int32Array(ids.buffer);
    const mask32 = new Int32Array(mask.buffer);
    const types32 = new Int32Array(types.buffer);
    if (this.tokenizer.padId !== 0) ids.fill(BigInt(this.tokenizer.padId));
    batch.forEach((item, row) => {
      const offset = 2 * row * width;
      for (let t = 0; t < item.length; t++) {
        ids32[offset + 2 * t] = item.ids[t];
        ids32[offset + 2 * t + 1] = 0;
        mask32[offset + 2 * t] = 1;
        if (item.typeIds) types32[offset + 2 * t] = item.typeIds[t];
      }
    });
    const ort = onnxRuntime();
    const dims = [rows, width];
    const feeds: Record<string, Tensor> = {
      input_ids: new ort.Tensor('int64', ids, dims),
      attention_mask: new ort.Tensor('int64', mask, dims),
    };
    if (this.usesTypeIds) feeds.token_type_ids = new ort.Tensor('int64', types, dims);
    let logits: Tensor;
    try {
      logits = (await this.session.run(feeds))[OUTPUT];
    } catch (error) {
      throw new InferenceError(`forward pass failed: ${String(error)}`);
    }
    const outWidth = logits.dims[1];
    if (outWidth !== this.labels.length) {
      throw new ModelPackageError(
        `model returns ${outWidth} logits per text but the package has ${this.labels.length} labels`,
      );
    }
    return { data: logits.data as Float32Array, rows, width: outWidth };
  }

  postprocess(output: InferenceOutput, options: PostprocessOptions = {}): Prediction[] {
    const scores = allocateRowScores(output.rows, output.width, options);
    this.scoreRows(
      output,
      scores,
      Array.from({ length: output.rows }, (_, row) => row),
    );
    return predictionsOf(scores, this.labels);
  }

  scoreRows(output: InferenceOutput, into: RowScores, at: readonly number[]): void {
    scoreRows(output, into, at);
  }

  /**
   * Runs a short pass, then the largest shapes `limits` allow (default: the manifest's): the
   * longest texts (`max_length`) as many rows as the token budget holds, and the most rows at
   * the length the budget leaves them. ORT then holds the memory of the largest passes before
   * the first request, and the first bulk chunks do not pay for new shapes. Also proves the
   * logits width matches the labels when the graph leaves it symbolic.
   */
  async warmup(limits?: PackingLimits): Promise<void> {
    await this.inference(await this.preprocess(['warm up']));
    const { maxBatchTokens, maxBatchSize } = limits ?? {
      maxBatchTokens: this.maxBatchTokens,
      maxBatchSize: this.maxBatchSize,
    };
    const text = 'the quick brown fox jumps over the lazy dog near the river bank ';
    const [longest] = await this.encode([text.repeat(Math.ceil(this.maxLength / 8) + 1)]);
    const shaped = (length: number): EncodedText => ({
      ids: longest.ids.slice(0, length),
      typeIds: longest.typeIds?.slice(0, length),
      length,
    });
    const width = Math.min(longest.length, this.maxLength, maxBatchTokens);
    const widestRows = Math.max(1, Math.min(maxBatchSize, Math.floor(maxBatchTokens / width)));
    await this.inference(Array.from({ length: widestRows }, () => shaped(width)));
    const rows = Math.min(maxBatchSize, maxBatchTokens);
    const length = Math.max(2, Math.min(width, Math.floor(maxBatchTokens / rows)));
    if (rows > widestRows) await this.inference(Array.from({ length: rows }, () => shaped(length)));
  }

  async dispose(): Promise<void> {
    await this.encoder?.close();
    await this.session?.release();
  }
}

/** Numerically stable softmax. */
export function softmax(logits: ArrayLike<number>): number[] {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  const exps = Array.from(logits, (value) => Math.exp(value - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((value) => value / sum);
}

/**
 * Rejects a graph whose inputs or outputs differ from what this handler feeds and reads,
 * or whose fixed logits width differs from the label count. Returns whether it takes type ids.
 */
function checkGraph(session: InferenceSession, file: string, labelCount: number): boolean {
  const inputs = session.inputNames;
  const missing = REQUIRED_INPUTS.filter((name) => !inputs.includes(name));
  const unknown = inputs.filter(
    (n) => !REQUIRED_INPUTS.includes(n) && !OPTIONAL_INPUTS.includes(n),
  );
  if (missing.length || unknown.length) {
    throw new ModelPackageError(
      `${file} has inputs [${inputs.join(', ')}]; the text-classification handler needs ` +
        `[${REQUIRED_INPUTS.join(', ')}] and optionally [${OPTIONAL_INPUTS.join(', ')}]`,
    );
  }
  const outputIndex = session.outputNames.indexOf(OUTPUT);
  if (outputIndex < 0) {
    throw new ModelPackageError(
      `${file} has outputs [${session.outputNames.join(', ')}]; the handler reads "${OUTPUT}"`,
    );
  }
  const meta = session.outputMetadata[outputIndex];
  const width = meta.isTensor ? meta.shape[meta.shape.length - 1] : undefined;
  if (typeof width === 'number' && width !== labelCount) {
    throw new ModelPackageError(
      `${file} returns ${width} logits per text but the package has ${labelCount} labels`,
    );
  }
  return inputs.includes('token_type_ids');
}
