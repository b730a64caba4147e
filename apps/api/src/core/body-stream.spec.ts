import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { asUploadProblem, limitedBody, readWhole } from './body-stream';
import { Problem } from './problem';

const LIMIT = { maxBytes: 1000, what: 'body' };

/** A body sent in `chunks`; `sent` says how many the reader took before it stopped. */
function bodyOf(chunks: Buffer[]) {
  const body = new PassThrough();
  const sent = { count: 0 };
  const next = () => {
    if (sent.count === chunks.length) return body.end();
    if (body.write(chunks[sent.count++])) setImmediate(next);
    else body.once('drain', next);
  };
  next();
  return { body, sent };
}

/** The problem a body's stream failed with. */
async function failure(stream: NodeJS.ReadableStream): Promise<Problem> {
  const error = await buffer(stream).then(
    () => assert.fail('the body was read whole'),
    (e: unknown) => asUploadProblem(e),
  );
  assert.ok(error instanceof Problem, String(error));
  return error;
}

describe('limitedBody', () => {
  it('passes a body under the limit through whole', async () => {
    const { body } = bodyOf([Buffer.alloc(600, 'a'), Buffer.alloc(400, 'b')]);
    const read = await buffer(limitedBody(body, undefined, LIMIT));
    assert.equal(read.length, 1000);
  });

  it('fails with a 413 once past the limit, counting across chunks, and stops reading', async () => {
    // Chunks of 64 KiB, each larger than the stream's buffers: the next is sent only once the
    // reader took the last, so what was taken stays put once the reader stops.
    const { body, sent } = bodyOf(Array.from({ length: 16 }, () => Buffer.alloc(64 * 1024, 'a')));
    const problem = await failure(
      limitedBody(body, undefined, { maxBytes: 100_000, what: 'body' }),
    );
    assert.equal(problem.getStatus(), 413);
    assert.match(problem.detail ?? '', /the body is over the limit of 100000 bytes/);
    assert.equal(body.readableFlowing, false, 'the body is paused, not read on');
    assert.ok(sent.count < 16, `${sent.count} of 16 chunks were taken`);
  });

  it('decodes gzip and counts the decoded bytes too', async () => {
    const small = gzipSync(Buffer.alloc(900, 'a'));
    assert.equal((await buffer(limitedBody(bodyOf([small]).body, 'gzip', LIMIT))).length, 900);
    // 30 bytes sent, 5,000 once decoded.
    const bomb = gzipSync(Buffer.alloc(5000, 'a'));
    const problem = await failure(limitedBody(bodyOf([bomb]).body, 'gzip', LIMIT));
    assert.equal(problem.getStatus(), 413);
    assert.match(problem.detail ?? '', /the decoded body is over the limit/);
  });

  it('answers 400 to a body that cannot be decoded, 415 to an unknown encoding', async () => {
    const broken = limitedBody(bodyOf([Buffer.from('not gzip')]).body, 'gzip', LIMIT);
    assert.equal((await failure(broken)).getStatus(), 400);
    assert.throws(
      () => limitedBody(bodyOf([]).body, 'compress', LIMIT),
      (error: Problem) => error.getStatus() === 415,
    );
  });

  it('fails when the body is cut short rather than waiting for ever', async () => {
    const body = new PassThrough();
    const stream = limitedBody(body, undefined, LIMIT);
    body.write('partial');
    body.destroy(new Error('aborted'));
    await assert.rejects(
      buffer(stream),
      (error: Problem) => error.getStatus() === 400 && /the body was cut short/.test(error.detail!),
    );
  });
});

describe('readWhole', () => {
  it('reads a body under the limit whole, across chunks', async () => {
    const { body } = bodyOf([Buffer.alloc(600, 'a'), Buffer.alloc(400, 'b')]);
    const read = await readWhole(body, 1000, 'body');
    assert.equal(read.length, 1000);
    assert.equal(read.toString('latin1', 598, 602), 'aabb');
  });

  it('fails with a 413 once past the limit, counting across chunks, and stops reading', async () => {
    const { body, sent } = bodyOf(Array.from({ length: 16 }, () => Buffer.alloc(64 * 1024, 'a')));
    const error = await readWhole(body, 100_000, 'body').then(
      () => assert.fail('the body was read whole'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof Problem, String(error));
    assert.equal(error.getStatus(), 413);
    assert.match(error.detail ?? '', /the body is over the limit of 100000 bytes/);
    assert.equal(body.readableFlowing, false, 'the body is paused, not read on');
    assert.equal(body.listenerCount('data'), 0, 'nothing reads it any more');
    assert.ok(sent.count < 16, `${sent.count} of 16 chunks were taken`);
  });

  it('fails with a 400 when the body is cut short rather than waiting for ever', async () => {
    const body = new PassThrough();
    const read = readWhole(body, 1000, 'body');
    body.write('partial');
    body.destroy(new Error('aborted'));
    await assert.rejects(
      read,
      (error: Problem) => error.getStatus() === 400 && /the body was cut short/.test(error.detail!),
    );
  });

  it('reads an empty body as no bytes', async () => {
    assert.equal((await readWhole(bodyOf([]).body, 1000, 'body')).length, 0);
  });
});
