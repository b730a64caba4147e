import { Transform, type Readable } from 'node:stream';
import { limitedBody, tooLarge } from '../core/body-stream';
import { Problem } from '../core/problem';

/** Bounds on each line (the bytes between two line feeds) of a dataset. */
export interface LineLimits {
  /** Longest line, in bytes: past it, 413. */
  maxBytes: number;
  /**
   * Most commas in one line: past it, 400. A CSV record of millions of empty columns costs a
   * parser far more than its bytes; quoted commas count too, so this is set well above the
   * column limit.
   */
  maxCommas?: number;
}

/**
 * Fails the stream as soon as a line passes a limit, before a parser holds it whole: a record
 * too large to be a text to score is refused however it is made (one huge field, or millions of
 * empty columns).
 */
export function lineLimit(limits: LineLimits): Transform {
  let bytes = 0;
  let commas = 0;
  const maxCommas = limits.maxCommas ?? Infinity;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      for (let start = 0; ;) {
        const lf = chunk.indexOf(10, start);
        const end = lf < 0 ? chunk.length : lf;
        bytes += end - start;
        if (bytes > limits.maxBytes) {
          return done(tooLarge('a record', limits.maxBytes));
        }
        if (maxCommas !== Infinity) {
          for (let c = chunk.indexOf(44, start); c >= 0 && c < end; c = chunk.indexOf(44, c + 1)) {
            if (++commas > maxCommas) {
              return done(
                new Problem(400, 'Invalid request', `a record has more than ${maxCommas} commas`),
              );
            }
          }
        }
        if (lf < 0) break;
        bytes = 0;
        commas = 0;
        start = lf + 1;
      }
      done(null, chunk);
    },
  });
}

/**
 * The stream of an upload, counted before and after decoding, with the line limit applied. A
 * failure of any stage (too large, undecodable) fails the stream returned.
 */
export function limitedUpload(
  body: Readable,
  encoding: string | undefined,
  limits: { maxBytes: number; line: LineLimits },
): Readable {
  return limitedBody(
    body,
    encoding,
    { maxBytes: limits.maxBytes, what: 'upload' },
    lineLimit(limits.line),
  );
}
