import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FastifyRequest } from 'fastify';
import { Problem } from '../core/problem';
import type { FormPart } from '../core/request-bodies';
import { torchServeTexts } from './torchserve-body';

const LIMITS = { maxTexts: 4 };

/** A request as the route sees it once its body is read: raw bytes, or a form's parts. */
function request(contentType: string | undefined, body: Buffer | FormPart[]): FastifyRequest {
  const headers = contentType === undefined ? {} : { 'content-type': contentType };
  return { headers, body } as unknown as FastifyRequest;
}

const bytes = (text: string) => Buffer.from(text, 'utf8');
const field = (name: string, value: string): FormPart => ({
  name,
  value: bytes(value),
  file: false,
});
const file = (name: string, value: string): FormPart => ({ name, value: bytes(value), file: true });

/** Asserts that reading the body fails with this status and title. */
function refuses(req: FastifyRequest, status: number, title: string | RegExp): void {
  assert.throws(
    () => torchServeTexts(req, LIMITS),
    (error: unknown) => {
      assert.ok(error instanceof Problem, `not a Problem: ${String(error)}`);
      assert.equal(error.getStatus(), status);
      if (typeof title === 'string') assert.equal(error.title, title);
      else assert.match(`${error.title}: ${error.detail}`, title);
      return true;
    },
  );
}

describe('torchServeTexts, one document', () => {
  it('reads each JSON form: a list under "data", one text under "data", a string, a list', () => {
    const json = 'application/json';
    assert.deepEqual(torchServeTexts(request(json, bytes('{"data": ["a", "b"]}')), LIMITS), {
      texts: ['a', 'b'],
      single: false,
    });
    assert.deepEqual(torchServeTexts(request(json, bytes('{"data": "a"}')), LIMITS), {
      texts: ['a'],
      single: true,
    });
    assert.deepEqual(torchServeTexts(request(json, bytes('"a"')), LIMITS), {
      texts: ['a'],
      single: true,
    });
    assert.deepEqual(torchServeTexts(request(json, bytes('["a", "b"]')), LIMITS), {
      texts: ['a', 'b'],
      single: false,
    });
  });

  it('reads JSON whatever the declared type, as TorchServe does (curl -T sends none)', () => {
    for (const type of [undefined, 'text/plain', 'application/octet-stream']) {
      assert.deepEqual(torchServeTexts(request(type, bytes('{"data": ["a"]}')), LIMITS), {
        texts: ['a'],
        single: false,
      });
    }
  });

  it('takes a body that is not JSON as one text, whole', () => {
    const text = 'Oil prices surge on supply fears\n{not json';
    assert.deepEqual(torchServeTexts(request('text/plain', bytes(text)), LIMITS), {
      texts: [text],
      single: true,
    });
  });

  it('takes a JSON number, boolean or null as the text it is written as', () => {
    for (const text of ['42', 'true', 'null']) {
      assert.deepEqual(torchServeTexts(request(undefined, bytes(text)), LIMITS), {
        texts: [text],
        single: true,
      });
    }
  });

  it('refuses malformed JSON only where the body was declared JSON', () => {
    refuses(request('application/json', bytes('{"data": [')), 400, 'Malformed JSON');
    refuses(request('application/vnd.api+json', bytes('{"data": [')), 400, 'Malformed JSON');
    // The control: the same bytes, undeclared, are a text.
    assert.deepEqual(torchServeTexts(request('text/plain', bytes('{"data": [')), LIMITS).texts, [
      '{"data": [',
    ]);
  });

  it('refuses bytes that are not UTF-8, an empty body, and JSON that holds no texts', () => {
    refuses(
      request('text/plain', Buffer.from([0x66, 0xff, 0xfe, 0x6f])),
      400,
      /neither JSON nor UTF-8/,
    );
    refuses(request('text/plain', Buffer.alloc(0)), 400, /the body is empty/);
    refuses(request('application/json', bytes('{"data": []}')), 400, /"data" is empty/);
    refuses(request('application/json', bytes('{"data": ["a", 7]}')), 400, /not usable texts/);
    refuses(request('application/json', bytes('{"text": "a"}')), 400, /the body must be/);
  });

  it('refuses more texts than the limit with a 413', () => {
    refuses(request('application/json', bytes('["a", "b", "c", "d", "e"]')), 413, 'Too many texts');
    assert.equal(
      torchServeTexts(request('application/json', bytes('["a", "b", "c", "d"]')), LIMITS).texts
        .length,
      4,
    );
  });
});

describe('torchServeTexts, a multipart form', () => {
  it('reads one document per "data" or "body" field and per file, in order, and no other field', () => {
    const parts = [
      field('data', 'first'),
      field('model', 'ignored'),
      file('upload', '["second", "third"]'),
      field('body', '{"data": "fourth"}'),
    ];
    assert.deepEqual(torchServeTexts(request('multipart/form-data', parts), LIMITS), {
      texts: ['first', 'second', 'third', 'fourth'],
      single: false,
    });
  });

  it('answers one object for one document of one text, a list otherwise', () => {
    assert.deepEqual(torchServeTexts(request('multipart/form-data', [file('data', 'a')]), LIMITS), {
      texts: ['a'],
      single: true,
    });
    assert.deepEqual(
      torchServeTexts(request('multipart/form-data', [file('data', '["a"]')]), LIMITS),
      { texts: ['a'], single: false },
    );
    assert.deepEqual(
      torchServeTexts(
        request('multipart/form-data', [field('data', 'a'), field('data', 'b')]),
        LIMITS,
      ),
      { texts: ['a', 'b'], single: false },
    );
  });

  it('refuses a form with no document, and holds the text limit across its documents', () => {
    refuses(
      request('multipart/form-data', [field('model', 'x')]),
      400,
      /no "data" or "body" field/,
    );
    const many = ['a', 'b', 'c', 'd', 'e'].map((text) => field('data', text));
    refuses(request('multipart/form-data', many), 413, 'Too many texts');
  });
});
