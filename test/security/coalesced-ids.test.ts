import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { startFragileStack, type FragileStore } from '../support/fragile-package';
import { eventually } from '../support/processes';
import type { Stack } from '../support/stack';

/** The shared job an id belongs to: the id itself for a lone call, else what it starts with. */
const jobOf = (id: string) => /^fragile@1\.[0-9a-f-]{36}/.exec(id)?.[0] ?? id;

/** A sync call's id with its last character changed (the same length, another secret). */
const tampered = (id: string) => id.slice(0, -1) + (id.endsWith('A') ? 'B' : 'A');

interface Caller {
  text: string;
  id: string;
}

describe('a sync call that shared a job opens its own share alone', () => {
  let fragile: FragileStore;
  let stack: Stack;
  let stop: (() => Promise<void>) | undefined;

  // A short sync timeout: a call held behind a blocked worker gets its 504 (and id) soon.
  before(
    async () =>
      ({ fragile, stack, stop } = await startFragileStack({ env: { SYNC_TIMEOUT_MS: '2000' } })),
  );
  afterEach(() => fragile.off('block'));
  after(() => stop?.());

  const view = (id: string) => stack.request('GET', `/v1/predictions/${id}`);

  /**
   * Sends bursts of single-text sync calls (each on its own connection) until two or more that
   * ended in a 504 share a job; answers those callers. `query` ends each call early; `before`
   * and `afterwards` run around each burst.
   */
  async function sharedCallers(
    query: string,
    around: { before?: () => Promise<void>; afterwards?: () => void } = {},
  ): Promise<Caller[]> {
    for (let attempt = 0; attempt < 5; attempt++) {
      await around.before?.();
      const texts = Array.from({ length: 24 }, (_, i) =>
        i % 2 ? `sports ${query} ${attempt}-${i}` : `business ${query} ${attempt}-${i}`,
      );
      const answers = await Promise.all(
        texts.map((text, i) =>
          // Every fourth call goes through v2 REST: they share jobs with the others.
          i % 4 === 3
            ? stack.request('POST', '/v2/models/fragile/infer', {
                inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], data: [text] }],
              })
            : stack.request('POST', `/predictions/fragile${query}`, { data: [text] }),
        ),
      );
      around.afterwards?.();
      const callers = answers.flatMap((answer, i) =>
        answer.status === 504 && answer.body.id ? [{ text: texts[i], id: answer.body.id }] : [],
      );
      const shared = callers.filter(
        (caller) => callers.filter((other) => jobOf(other.id) === jobOf(caller.id)).length > 1,
      );
      const job = shared[0] && jobOf(shared[0].id);
      if (job) return shared.filter((caller) => jobOf(caller.id) === job);
    }
    assert.fail('no two calls that ended early shared a job');
  }

  /** Checks what every id around a shared job opens; `finished` is each own share's status. */
  async function checkIds(callers: Caller[], finished: (own: { status: string }) => boolean) {
    const job = jobOf(callers[0].id);
    // The control: each caller's own id opens its own text, and nothing else.
    for (const caller of callers) {
      const own = await eventually(`the share of ${caller.id}`, async () => {
        const answer = await view(caller.id);
        return answer.status === 200 && finished(answer.body) ? answer.body : undefined;
      });
      assert.equal(own.id, caller.id);
      assert.deepEqual(own.input.data, [caller.text], 'no other caller’s text');
      assert.ok(own.output === null || own.output.length === 1, JSON.stringify(own.output));
      const tamperedView = await view(tampered(caller.id));
      assert.equal(tamperedView.status, 404, 'an id with another secret opens nothing');
    }
    assert.equal((await view(job)).status, 404, 'the shared job is not readable by its own id');
    for (let n = 0; n <= callers.length + 24; n++) {
      const guess = await view(`${job}.${n}`);
      assert.equal(guess.status, 404, `a sibling id guessed as ${job}.${n}`);
    }
    // Each secret is 128 random bits of its own: no id follows from another's.
    const secrets = callers.map((c) => c.id.slice(job.length + 1));
    secrets.forEach((secret) => assert.match(secret, /^[\w-]{22}$/));
    assert.equal(new Set(secrets).size, secrets.length);
  }

  it('gives each caller of a job that ended early (deadline_ms=1) an id of its own', async () => {
    const callers = await sharedCallers('?deadline_ms=1');
    const cancel = await stack.request('POST', `/v1/predictions/${jobOf(callers[0].id)}/cancel`);
    assert.equal(cancel.status, 404, 'nor can its own id cancel it');
    await checkIds(callers, (own) => own.status === 'failed');
  });

  it('shows each caller of a job that timed out its own answer once the job is done', async () => {
    const callers = await sharedCallers('', {
      before: async () => {
        fragile.on('block');
        const text = `sports blocker ${Date.now()}`;
        const blocker = await stack.request('POST', '/v1/predictions', {
          model: 'fragile',
          input: { data: [text] },
        });
        assert.equal(blocker.status, 202);
        await eventually('the blocking job to reach the handler', () =>
          fragile.seen().includes(text) ? true : undefined,
        );
      },
      afterwards: () => fragile.off('block'),
    });
    const job = jobOf(callers[0].id);
    assert.equal((await stack.request('POST', `/v1/predictions/${job}/cancel`)).status, 404);
    await checkIds(callers, (own) => own.status === 'succeeded');
    for (const caller of callers) {
      const own = (await view(caller.id)).body;
      assert.equal(own.output[0].label_name, caller.text.split(' ')[0], caller.text);
    }
  });
});
