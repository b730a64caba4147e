import busboy from 'busboy';
import type { FastifyRequest as Request } from 'fastify';
import { Problem, badRequest } from '../core/problem';
import { textsFromBody, type TextLimits } from './prediction.dto';

/** Limits of a TorchServe-style body. */
export interface BodyLimits extends TextLimits {
  maxBytes: number;
}

/** The texts of a request, and whether the caller sent one text (answered as one object). */
export interface RequestTexts {
  texts: string[];
  single: boolean;
}

/** Multipart form fields read as documents; any file part is one too. */
const FORM_FIELDS = new Set(['data', 'body']);
/** Most parts of a multipart body. */
const MAX_PARTS = 64;

/**
 * Reads a TorchServe-style body the way TorchServe does, whatever its type: the raw bytes are
 * the document (read under MAX_BODY_BYTES by the raw parser of this route). A document that is
 * JSON is one of the JSON forms (`{"data": [...]}`, `{"data": "..."}`, a string, a list of
 * strings); any other is one UTF-8 text. A multipart form (`curl -F data=@file`) gives one
 * document per `data` or `body` field and per file part. A body that is neither JSON nor UTF-8
 * is a 400.
 */
export async function torchServeTexts(request: Request, limits: BodyLimits): Promise<RequestTexts> {
  const type = request.headers['content-type'] ?? '';
  const charset = /;\s*charset="?([^";\s]+)/i.exec(type)?.[1]?.toLowerCase();
  if (charset && !['utf-8', 'utf8', 'us-ascii'].includes(charset)) {
    throw new Problem(415, 'Unsupported media type', `unsupported charset "${charset}"`);
  }
  if (/^multipart\/form-data/i.test(type)) {
    const documents = await readForm(request, limits);
    if (documents.length === 0) {
      throw badRequest('the form holds no "data" or "body" field and no file', {
        errors: [{ pointer: '#/data', detail: 'is missing' }],
      });
    }
    const parts = documents.map((doc) => documentTexts(doc, limits));
    const texts = textsFromBody({ data: parts.flatMap((p) => p.texts) }, limits).texts;
    return { texts, single: parts.length === 1 && parts[0].single };
  }
  const body: unknown = request.body;
  if (!Buffer.isBuffer(body) || body.length === 0) {
    throw badRequest('the body is empty: send {"data": ["text", ...]}, JSON, or plain text', {
      errors: [{ pointer: '#/data', detail: 'is missing' }],
    });
  }
  // A body declared as JSON must be JSON; any other may be JSON or text, as TorchServe reads it.
  return documentTexts(body, limits, /^application\/([a-z0-9.+-]+\+)?json\b/i.test(type));
}

/**
 * The texts of one document: a JSON form, or (unless it was declared JSON) the whole of it as
 * one UTF-8 text.
 */
function documentTexts(document: Buffer, limits: TextLimits, declaredJson = false): RequestTexts {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(document);
  } catch {
    throw badRequest('the body is neither JSON nor UTF-8 text');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    if (declaredJson) throw new Problem(400, 'Malformed JSON', (error as Error).message);
    return textsFromBody(text, limits);
  }
  // A JSON number, boolean or null is text that happens to parse: "42" is a text to classify.
  if (json === null || typeof json !== 'object') {
    return textsFromBody(typeof json === 'string' ? json : text, limits);
  }
  return textsFromBody(Array.isArray(json) ? { data: json } : json, limits);
}

/** The documents of a multipart form, within the byte limit. */
function readForm(request: Request, limits: BodyLimits): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const documents: Buffer[] = [];
    let form: busboy.Busboy;
    try {
      form = busboy({
        headers: request.headers,
        limits: { fileSize: limits.maxBytes, fieldSize: limits.maxBytes, parts: MAX_PARTS },
      });
    } catch (error) {
      return reject(badRequest(`malformed multipart body: ${(error as Error).message}`));
    }
    let total = 0;
    const tooLarge = () =>
      new Problem(
        413,
        'Payload too large',
        `the body is over the limit of ${limits.maxBytes} bytes`,
      );
    form.on('field', (name, value) => {
      total += Buffer.byteLength(value);
      if (FORM_FIELDS.has(name)) documents.push(Buffer.from(value));
    });
    form.on('file', (_name, stream) => {
      // Documents keep the order of the parts, though a file ends after fields that follow it.
      const slot = documents.push(Buffer.alloc(0)) - 1;
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => {
        total += chunk.length;
        chunks.push(chunk);
      });
      stream.on('limit', () => reject(tooLarge()));
      stream.on('end', () => (documents[slot] = Buffer.concat(chunks)));
    });
    form.on('partsLimit', () => reject(badRequest(`a form may hold at most ${MAX_PARTS} parts`)));
    form.on('error', (error: Error) =>
      reject(badRequest(`malformed multipart body: ${error.message}`)),
    );
    form.on('close', () => (total > limits.maxBytes ? reject(tooLarge()) : resolve(documents)));
    request.raw.pipe(form);
  });
}
