import type { FastifyRequest as Request } from 'fastify';
import { Problem, badRequest } from '../core/problem';
import type { FormPart } from '../core/request-bodies';
import { textsFromBody, type TextLimits } from './prediction.dto';

/** The texts of a request, and whether the caller sent one text (answered as one object). */
export interface RequestTexts {
  texts: string[];
  single: boolean;
}

/** Multipart form fields read as documents; any file part is one too. */
const FORM_FIELDS = new Set(['data', 'body']);

/**
 * Reads a TorchServe-style body the way TorchServe does, whatever its type: the raw bytes are
 * the document (read, under MAX_BODY_BYTES and in UTF-8, for this route by `readRequestBodies`).
 * A document that is JSON is one of the JSON forms (`{"data": [...]}`, `{"data": "..."}`, a
 * string, a list of strings); any other is one UTF-8 text. A multipart form (`curl -F
 * data=@file`) gives one document per `data` or `body` field and per file part. A body that is
 * neither JSON nor UTF-8 is a 400.
 */
export function torchServeTexts(request: Request, limits: TextLimits): RequestTexts {
  const type = request.headers['content-type'] ?? '';
  const body: unknown = request.body;
  if (Array.isArray(body)) {
    const documents = (body as FormPart[])
      .filter((part) => part.file || FORM_FIELDS.has(part.name))
      .map((part) => part.value);
    if (documents.length === 0) {
      throw badRequest('the form holds no "data" or "body" field and no file', {
        errors: [{ pointer: '#/data', detail: 'is missing' }],
      });
    }
    const parts = documents.map((doc) => documentTexts(doc, limits));
    const texts = textsFromBody({ data: parts.flatMap((p) => p.texts) }, limits).texts;
    return { texts, single: parts.length === 1 && parts[0].single };
  }
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
