import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import busboy from 'busboy';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { asUploadProblem, isIdentity, limitedBody, readWhole, tooLarge } from './body-stream';
import { Problem, badRequest } from './problem';

/** TorchServe's route, whose body is read whatever its type (paths match in any case). */
const TORCHSERVE_PATH = /^\/predictions(\/|\?|$)/i;
/**
 * The Open Inference Protocol's inference routes, whose body is read whatever its type: JSON, or
 * (Triton's binary tensor data extension) a JSON header followed by binary tensor data.
 */
const OPEN_INFERENCE_INFER_PATH = /^\/v2\/models\/[^/?]+(\/versions\/[^/?]+)?\/infer\/?(\?|$)/;
const MULTIPART = /^\s*multipart\//i;
/** `application/json` and the `+json` types (`application/merge-patch+json`...). */
const JSON_TYPE = /^\s*(application\/json|[^/\s;]+\/[^\s;]+\+json)\s*(;|$)/i;
/** A Content-Type Fastify can read (`type/subtype`, then parameters): see `readRequestBodies`. */
const MEDIA_TYPE = /^\s*[\w!#$%&'*+.^`|~-]+\/[\w!#$%&'*+.^`|~-]+\s*(;|$)/;
/** Charsets of a body this server reads: UTF-8 and its ASCII subset. */
const UTF8 = new Set(['utf-8', 'utf8', 'us-ascii']);
/** Most parts of a multipart form. */
export const MAX_FORM_PARTS = 64;

/** One part of a multipart form, in the order sent: a field, or a file. */
export interface FormPart {
  name: string;
  value: Buffer;
  file: boolean;
}

/** How a request's body is read before its route runs. */
type BodyKind = 'bytes' | 'form' | 'json';

function kindOf(request: FastifyRequest): BodyKind | undefined {
  const type = request.headers['content-type'] ?? '';
  if (TORCHSERVE_PATH.test(request.url)) return MULTIPART.test(type) ? 'form' : 'bytes';
  if (OPEN_INFERENCE_INFER_PATH.test(request.url)) return 'bytes';
  return JSON_TYPE.test(type) ? 'json' : undefined;
}

/**
 * How every request body of the app is read, once, after authentication (a request hook) and
 * under `maxBytes` as sent and once decoded (gzip, deflate, br; another Content-Encoding is a
 * 415, a broken one a 400), counted as it streams: past the limit, a 413 at once, the rest
 * unread. Only UTF-8 bodies are read (another charset is a 415).
 * - TorchServe's route reads the raw bytes whatever the type (`curl -T`, `-d`, no type at all),
 *   and a multipart form as its parts (`FormPart[]`), the whole form counted as one body.
 * - The Open Inference Protocol's inference routes read the raw bytes whatever the type (a JSON
 *   request, or one in Triton's binary tensor data extension: see `splitInferBody`).
 * - Elsewhere a JSON body (any JSON value; empty is none) is parsed; any other body is left
 *   unread for the route (dataset uploads to `/v1/batches` are read as a stream there).
 */
export function readRequestBodies(app: FastifyInstance, maxBytes: number): void {
  // Fastify refuses a Content-Type it cannot parse (415) before any parser runs; such a body is
  // read as one of no type (raw on TorchServe's route, unread elsewhere).
  app.addHook('onRequest', (request, _reply, done) => {
    const type = request.headers['content-type'];
    if (type !== undefined && !MEDIA_TYPE.test(type)) delete request.raw.headers['content-type'];
    done();
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', async (request: FastifyRequest, payload: Readable) => {
    const kind = kindOf(request);
    if (!kind) return undefined;
    const { headers } = request;
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(headers['content-type'] ?? '')?.[1];
    if (charset && !UTF8.has(charset.toLowerCase())) {
      throw new Problem(415, 'Unsupported media type', `unsupported charset "${charset}"`);
    }
    if (Number(headers['content-length']) > maxBytes) throw tooLarge('the body', maxBytes);
    const encoding = headers['content-encoding'];
    try {
      const limited = () => limitedBody(payload, encoding, { maxBytes, what: 'body' });
      if (kind === 'form') return await readForm(headers, limited(), maxBytes);
      // A body sent as its own bytes is read whole at once; an encoded one streams.
      const bytes = isIdentity(encoding)
        ? await readWhole(payload, maxBytes, 'body')
        : await buffer(limited());
      return kind === 'bytes' ? bytes : parseJson(bytes);
    } catch (error) {
      throw asUploadProblem(error);
    }
  });
}

/** A JSON body of any JSON value, in UTF-8; an empty body is none. */
export function parseJson(bytes: Buffer): unknown {
  if (bytes.length === 0) return undefined;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new Problem(400, 'Malformed JSON', 'the body is not UTF-8');
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Problem(400, 'Malformed JSON', (error as Error).message);
  }
}

/**
 * The parts of a multipart form, read from `body` (already bounded as a whole: the first byte
 * past the limit fails it, whichever part it falls in).
 */
function readForm(headers: IncomingHttpHeaders, body: Readable, maxBytes: number) {
  return new Promise<FormPart[]>((resolve, reject) => {
    let form: busboy.Busboy;
    try {
      // No limit per part beyond the body's own (busboy would truncate fields at 1 MB).
      form = busboy({ headers, limits: { fieldSize: maxBytes, parts: MAX_FORM_PARTS } });
    } catch (error) {
      return reject(badRequest(`malformed multipart body: ${(error as Error).message}`));
    }
    const fail = (error: Error) => {
      body.unpipe(form);
      // Stops reading the request too (see limitedBody).
      body.destroy();
      reject(error);
    };
    const parts: FormPart[] = [];
    form.on('field', (name, value) => parts.push({ name, value: Buffer.from(value), file: false }));
    form.on('file', (name, stream) => {
      // Parts keep their order, though a file ends after fields that follow it.
      const part: FormPart = { name, value: Buffer.alloc(0), file: true };
      parts.push(part);
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => (part.value = Buffer.concat(chunks)));
    });
    form.on('partsLimit', () =>
      fail(badRequest(`a form may hold at most ${MAX_FORM_PARTS} parts`)),
    );
    form.on('error', (error: Error) =>
      fail(badRequest(`malformed multipart body: ${error.message}`)),
    );
    form.on('close', () => resolve(parts));
    body.on('error', reject);
    body.pipe(form);
  });
}

/** How long a refused request's body is read and thrown away before its connection is cut. */
const LINGER_MS = 2000;

/**
 * For an answer given before the request's body was read whole: once the answer is sent, the
 * rest of the body is read and dropped (kept nowhere); if it is still coming after a short while,
 * the connection is cut. Not at once: a connection closed on unread data is reset, and the reset
 * can destroy the answer before the client reads it (what nginx's lingering close avoids).
 */
export function closeUnread(req: IncomingMessage, res: ServerResponse): void {
  if (req.complete) return;
  res.once('finish', () => {
    // Flowing with no reader: what arrives is dropped (a parser that gave up may have paused it).
    req.resume();
    const cut = setTimeout(() => {
      if (!req.complete) req.socket.destroy();
    }, LINGER_MS);
    req.socket.once('close', () => clearTimeout(cut));
  });
}
