import { Transform, finished, pipeline, type Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { Problem } from '../core/problem';

/** Fails the stream with a 413 once more than `maxBytes` have passed through it. */
export function byteLimit(maxBytes: number, what: string): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > maxBytes) return done(tooLarge(`${what} is over the limit of ${maxBytes} bytes`));
      done(null, chunk);
    },
  });
}

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
          return done(tooLarge(`a record is over the limit of ${limits.maxBytes} bytes`));
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

/** A decoder for the body's Content-Encoding; 415 for one this server does not speak. */
export function decoderFor(encoding: string | undefined): Transform | undefined {
  const name = (encoding ?? 'identity').trim().toLowerCase();
  if (name === 'identity' || name === '') return undefined;
  if (name === 'gzip' || name === 'x-gzip') return createGunzip();
  if (name === 'deflate') return createInflate();
  if (name === 'br') return createBrotliDecompress();
  throw new Problem(415, 'Unsupported media type', `unsupported Content-Encoding "${encoding}"`);
}

/** Turns a failure of a decoder (a broken compressed body) into a 400. */
export function asUploadProblem(error: unknown): unknown {
  if (error instanceof Problem) return error;
  const code = (error as { code?: string }).code ?? '';
  if (code.startsWith('Z_') || code.startsWith('ERR__') || code === 'ERR_BROTLI')
    return new Problem(400, 'Invalid request', `the body cannot be decoded: ${String(error)}`);
  return error;
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
  const decoder = decoderFor(encoding);
  const counted = byteLimit(limits.maxBytes, 'the upload');
  const stages: Transform[] = [counted];
  if (decoder) stages.push(decoder, byteLimit(limits.maxBytes, 'the decoded upload'));
  const out = lineLimit(limits.line);
  // The body is piped, not part of the pipeline: a failure stops reading it without destroying
  // the request's socket, so the answer still reaches the client.
  body.pipe(counted);
  pipeline([...stages, out], (error) => {
    if (error) body.unpipe(counted);
  });
  // A pipe does not pass on a body cut short (the client went away): fail the stream then, or
  // its reader would wait for the rest for ever.
  finished(body, (error) => {
    if (error) counted.destroy(new Problem(400, 'Invalid request', 'the upload was cut short'));
  });
  return out;
}

const tooLarge = (detail: string) => new Problem(413, 'Payload too large', detail);
