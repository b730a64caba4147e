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

/**
 * A BERT tokenizer backed by Hugging Face's native `tokenizers` binding.
 * Encoding runs on the binding's own threads; only reading ids back touches the caller's thread.
 */
export class TextTokenizer {
  private constructor(
    private readonly tokenizer: Tokenizer,
    /** Id written into padded positions. */
    readonly padId: number,
  ) {}

  /** Builds a tokenizer that truncates every text to `maxLength` tokens, specials included. */
  static async load(source: TokenizerSource, maxLength: number): Promise<TextTokenizer> {
    const file = 'tokenizerFile' in source ? source.tokenizerFile : source.vocabFile;
    if (!existsSync(file)) throw new ModelPackageError(`tokenizer file ${file} does not exist`);
    const tokenizer =
      'tokenizerFile' in source
        ? Tokenizer.fromFile(source.tokenizerFile)
        : await fromVocab(source.vocabFile, source.lowercase);
    tokenizer.disablePadding();
    tokenizer.setTruncation(maxLength);
    return new TextTokenizer(tokenizer, tokenizer.tokenToId('[PAD]') ?? 0);
  }

  /** Token ids (with `[CLS]`/`[SEP]`) and type ids of each text, in input order. */
  async encode(texts: readonly string[]): Promise<EncodedText[]> {
    const encodings = await this.tokenizer.encodeBatch([...texts]);
    return encodings.map((encoding) => {
      const ids = encoding.getIds();
      return { ids, typeIds: encoding.getTypeIds(), length: ids.length };
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
