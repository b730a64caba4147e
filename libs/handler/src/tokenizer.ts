import { existsSync } from 'node:fs';
import {
  Tokenizer,
  WordPiece,
  bertNormalizer,
  bertPreTokenizer,
  bertProcessing,
  wordPieceDecoder,
} from 'tokenizers';
import type { EncodedText } from './handler';
import { ModelPackageError } from './errors';

/** Where the tokenizer comes from: a full `tokenizer.json`, or a WordPiece `vocab.txt`. */
export type TokenizerSource = { tokenizerFile: string } | { vocabFile: string; lowercase: boolean };

/** How a text longer than the window is cut into overlapping windows (see `windowsSchema`). */
export interface WindowOptions {
  /** Tokens each window shares with the one before it. */
  readonly overlap: number;
  /** Most windows per text. */
  readonly maxWindows: number;
}

/**
 * A BERT tokenizer backed by Hugging Face's native `tokenizers` binding.
 * Encoding runs on the binding's own threads; only reading ids back touches the caller's thread.
 */
export class TextTokenizer {
  private constructor(
    private readonly tokenizer: Tokenizer,
    /** Id written into padded positions. */
    readonly padId: number,
    private readonly maxLength: number,
    private readonly windows?: WindowOptions,
  ) {}

  /**
   * Builds a tokenizer that truncates every text to `maxLength` tokens, specials included; or,
   * with `windows`, cuts a longer text into overlapping windows of `maxLength` tokens.
   */
  static async load(
    source: TokenizerSource,
    maxLength: number,
    windows?: WindowOptions,
  ): Promise<TextTokenizer> {
    const file = 'tokenizerFile' in source ? source.tokenizerFile : source.vocabFile;
    if (!existsSync(file)) throw new ModelPackageError(`tokenizer file ${file} does not exist`);
    const tokenizer =
      'tokenizerFile' in source
        ? Tokenizer.fromFile(source.tokenizerFile)
        : await fromVocab(source.vocabFile, source.lowercase);
    tokenizer.disablePadding();
    // Windows are cut here from one longer encoding (bounded by the most windows a text gets):
    // the binding's own overflowing encodings skip tokens when a stride is set.
    tokenizer.setTruncation(windows ? maxLength * windows.maxWindows : maxLength);
    const made = new TextTokenizer(
      tokenizer,
      tokenizer.tokenToId('[PAD]') ?? 0,
      maxLength,
      windows,
    );
    if (windows) {
      const [probe] = await tokenizer.encodeBatch(['a']);
      const specials = probe.getSpecialTokensMask().filter((s) => s === 1).length;
      if (windows.overlap >= maxLength - specials) {
        throw new ModelPackageError(
          `windows.overlap (${windows.overlap}) must be less than the ${maxLength - specials} ` +
            `text tokens a window of max_length ${maxLength} holds`,
        );
      }
    }
    return made;
  }

  /**
   * Token ids (with `[CLS]`/`[SEP]`) and type ids of each text, in input order. With windows, a
   * text longer than `maxLength` also carries them in `windows` (its own ids are the first).
   */
  async encode(texts: readonly string[]): Promise<EncodedText[]> {
    // One text (a lone online call) is encoded by the binding's `encode`: `encodeBatch` hands even
    // one text to its own pool of threads, one more thread to wake (on 2 cores at load 8 the two
    // could not be told apart; the hand-off is what a quiet or larger host pays).
    const encodings =
      texts.length === 1
        ? [await this.tokenizer.encode(texts[0])]
        : await this.tokenizer.encodeBatch([...texts]);
    return encodings.map((encoding) => {
      const ids = encoding.getIds();
      const typeIds = encoding.getTypeIds();
      if (ids.length <= this.maxLength) return { ids, typeIds, length: ids.length };
      const windows = cutWindows(
        ids,
        typeIds,
        encoding.getSpecialTokensMask(),
        this.maxLength,
        this.windows!,
      );
      return { ...windows[0], windows };
    });
  }

  /**
   * Writes this tokenizer as a Hugging Face `tokenizer.json` (pretty-printed), so that other
   * runtimes tokenize exactly as the server does. The file carries the truncation to
   * `maxLength` and the disabled padding that `load` set.
   */
  save(path: string): void {
    this.tokenizer.save(path, true);
  }
}

/**
 * Overlapping windows of an encoding longer than `maxLength`: each keeps the encoding's leading
 * and trailing special tokens around a run of its text tokens; consecutive runs share `overlap`
 * tokens; the last run ends with the text (so every window is full), and at most `maxWindows`.
 */
export function cutWindows(
  ids: readonly number[],
  typeIds: readonly number[],
  specialMask: readonly number[],
  maxLength: number,
  { overlap, maxWindows }: WindowOptions,
): EncodedText[] {
  let lead = 0;
  while (lead < ids.length && specialMask[lead] === 1) lead++;
  let tail = 0;
  while (tail < ids.length - lead && specialMask[ids.length - 1 - tail] === 1) tail++;
  const textEnd = ids.length - tail;
  const room = maxLength - lead - tail;
  const step = room - overlap;
  const starts: number[] = [];
  for (let start = lead; starts.length < maxWindows; start += step) {
    if (start + room >= textEnd) {
      starts.push(Math.max(lead, textEnd - room));
      break;
    }
    starts.push(start);
  }
  const part = (values: readonly number[], start: number): number[] => [
    ...values.slice(0, lead),
    ...values.slice(start, Math.min(start + room, textEnd)),
    ...values.slice(textEnd),
  ];
  return starts.map((start) => {
    const windowIds = part(ids, start);
    return { ids: windowIds, typeIds: part(typeIds, start), length: windowIds.length };
  });
}

async function fromVocab(vocabFile: string, lowercase: boolean): Promise<Tokenizer> {
  let model;
  try {
    model = await WordPiece.fromFile(vocabFile, { unkToken: '[UNK]' });
  } catch (error) {
    throw new ModelPackageError(`vocab file ${vocabFile} cannot be read: ${String(error)}`);
  }
  const tokenizer = new Tokenizer(model);
  const cls = tokenizer.tokenToId('[CLS]');
  const sep = tokenizer.tokenToId('[SEP]');
  if (cls === null || sep === null) {
    throw new ModelPackageError(`vocab file ${vocabFile} lacks the [CLS] or [SEP] token`);
  }
  tokenizer.setNormalizer(bertNormalizer({ lowercase, stripAccents: lowercase, cleanText: true }));
  tokenizer.setPreTokenizer(bertPreTokenizer());
  tokenizer.setPostProcessor(bertProcessing(['[SEP]', sep], ['[CLS]', cls]));
  tokenizer.setDecoder(wordPieceDecoder());
  return tokenizer;
}
