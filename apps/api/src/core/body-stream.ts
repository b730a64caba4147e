import { Transform, finished, pipeline, type Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { Problem } from './problem';

/** Fails the stream with a 413 once more than `maxBytes` have passed through it. */
export function byteLimit(maxBytes: number, what: string): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > maxBytes) return done(tooLarge(what, maxBytes));
      done(null, chunk);
    },
  });
}

/** The 413 of a body or upload over its limit. */
export function tooLarge(what: string, maxBytes: number): Problem {
  return new Problem(413, 'Payload too large', `${what} is over the limit of ${maxBytes} bytes`);
}

/** Whether a body sent with this Content-Encoding is its own bytes (none, or `identity`). */
export function isIdentity(encoding: string | undefined): boolean {
  const name = (encoding ?? 'identity').trim().toLowerCase();
  return name === 'identity' || name === '';
}

/** A decoder for the body's Content-Encoding; 415 for one this server does not speak. */
export function decoderFor(encoding: string | undefined): Transform | undefined {
  if (isIdentity(encoding)) return undefined;
  const name = encoding!.trim().toLowerCase();
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
 * A request body as it streams: counted as sent, decoded per its Content-Encoding and counted
 * again once decoded; `more` (a line limit, say) follow. The stream returned fails with a 413 as
 * soon as either count passes `maxBytes` (nothing much past the limit is read), and with the
 * decoder's error for a body that cannot be decoded (see `asUploadProblem`); an encoding this
 * server does not speak is a 415, thrown at once. `what` names the body in the 413 ("body",
 * "upload").
 */
export function limitedBody(
  body: Readable,
  encoding: string | undefined,
  limits: { maxBytes: number; what: string },
  ...more: Transform[]
): Readable {
  const { maxBytes, what } = limits;
  const decoder = decoderFor(encoding);
  const counted = byteLimit(maxBytes, `the ${what}`);
  const stages: Transform[] = [counted];
  if (decoder) stages.push(decoder, byteLimit(maxBytes, `the decoded ${what}`));
  stages.push(...more);
  // The body is piped, not part of the pipeline: a failure stops reading it (unpiped, it pauses)
  // without destroying the request's socket, so the answer still reaches the client.
  body.pipe(counted);
  // A pipe does not pass on a body cut short (the client went away): fail the stream then, or
  // its reader would wait for the rest for ever.
  finished(body, (error) => {
    if (error) counted.destroy(new Problem(400, 'Invalid request', `the ${what} was cut short`));
  });
  if (stages.length === 1) {
    counted.once('error', () => body.unpipe(counted));
    return counted;
  }
  pipeline(stages, (error) => {
    if (error) body.unpipe(counted);
  });
  return stages.at(-1)!;
}

/**
 * The whole of a body sent as its own bytes (no Content-Encoding), read as {@link limitedBody}
 * and a reader of it would read it, without their stream stages: counted as it arrives, a 413 as
 * soon as more than `maxBytes` came (the body is then paused, nothing much past the limit is
 * read), a 400 when it is cut short. What a small request costs most of the time: its chunks
 * are taken as they come, in as few turns of the event loop as the request itself arrives in.
 */
export function readWhole(body: Readable, maxBytes: number, what: string): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let seen = 0;
    const stop = () => {
      body.off('data', onData);
      body.off('end', onEnd);
      stopWatching();
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen <= maxBytes) return void chunks.push(chunk);
      stop();
      body.pause();
      reject(tooLarge(`the ${what}`, maxBytes));
    };
    const onEnd = () => {
      stop();
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, seen));
    };
    // Only its failure is watched for: the end is the 'end' event (a request's 'close' can come
    // much later).
    const stopWatching = finished(body, (error) => {
      if (!error) return;
      stop();
      reject(new Problem(400, 'Invalid request', `the ${what} was cut short`));
    });
    body.on('data', onData);
    body.once('end', onEnd);
  });
}
