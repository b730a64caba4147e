import assert from 'node:assert/strict';
import type { Queue } from 'bullmq';
import { after, before, describe, it } from 'node:test';
import { startFragileStack } from '../support/fragile-package';
import { Stack } from '../support/stack';

/** A burst of sync calls on separate connections, answered with status and body each. */
const burst = (stack: Stack, texts: string[]) =>
  Promise.all(texts.map((text) => stack.request('POST', '/predictions/fragile', { data: [text] })));

const PART_ID = /^fragile@1\.[0-9a-f-]{36}\.[\w-]{22}$/;

describe('sync calls that arrive together share a job, each answered on its own', () => {
  let stack: Stack;
  let queue: Queue;
  let stop: (() => Promise<void>) | undefined;

  before(async () => ({ stack, queue, stop } = await startFragileStack()));
  after(() => stop?.());

  const jobCount = async () => (await queue.getJobCounts('completed', 'failed')).completed;

  it('makes fewer jobs than calls under a burst, and one job per call when calls come one by one', async () => {
    const first = await jobCount();
    for (let i = 0; i < 3; i++) {
      const alone = await stack.request('POST', '/predictions/fragile', { data: ['sports'] });
      assert.equal(alone.status, 200);
    }
    assert.equal((await jobCount()) - first, 3, 'the control: a lone call is a job of its own');

    // Coalescing is decided by arrival (new connections trickle in): try a few bursts.
    let shared = false;
    for (let attempt = 0; attempt < 5 && !shared; attempt++) {
      const texts = Array.from({ length: 40 }, (_, i) => (i % 2 ? `sports ${i}` : `business ${i}`));
      const before = await jobCount();
      const answers = await burst(stack, texts);
      answers.forEach((answer, i) => {
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        assert.equal(answer.body[0].label_name, i % 2 ? 'sports' : 'business', `call ${i}`);
      });
      shared = (await jobCount()) - before < texts.length;
    }
    assert.ok(shared, 'a burst shared jobs');
  });

  it('fails only the call whose text breaks the handler; its id shows its own text alone', async () => {
    const alone = await stack.request('POST', '/predictions/fragile', { data: ['poison sports'] });
    assert.equal(alone.status, 500, 'the control: the poisoned text fails on its own');

    let shared: { id: string; text: string } | undefined;
    for (let attempt = 0; attempt < 5 && !shared; attempt++) {
      const texts = Array.from({ length: 30 }, (_, i) =>
        i % 10 === 5 ? `poison ${attempt}-${i}` : `sports ${attempt}-${i}`,
      );
      const answers = await burst(stack, texts);
      answers.forEach((answer, i) => {
        if (texts[i].startsWith('poison')) {
          assert.equal(answer.status, 500, JSON.stringify(answer.body));
          assert.match(answer.body.detail, /poisoned/);
          if (PART_ID.test(answer.body.id)) shared ??= { id: answer.body.id, text: texts[i] };
        } else {
          assert.equal(answer.status, 200, `${texts[i]}: ${JSON.stringify(answer.body)}`);
          assert.equal(answer.body[0].label_name, 'sports');
        }
      });
    }
    assert.ok(shared, 'a poisoned call shared a job with others');

    const view = await stack.request('GET', `/v1/predictions/${shared.id}`);
    assert.equal(view.status, 200);
    assert.equal(view.body.id, shared.id);
    assert.equal(view.body.status, 'failed');
    assert.deepEqual(view.body.input.data, [shared.text], 'no other caller’s text');
    assert.match(view.body.error, /poisoned/);

    const jobId = shared.id.replace(/\.[\w-]{22}$/, '');
    const missing = await stack.request('GET', `/v1/predictions/${jobId}.${'A'.repeat(22)}`);
    assert.equal(missing.status, 404, 'a part the job does not have');
  });
});
