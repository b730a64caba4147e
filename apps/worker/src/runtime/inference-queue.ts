import {
  classifyTexts,
  ScoringRun,
  type ClassifyOutcome,
  type Handler,
  type PackingLimits,
} from '@app/handler';
import type { BulkPassPolicy } from './bulk-pass-policy';
import type { ClassifyRequest, ThreadMessage } from './protocol';

interface BulkWork {
  request: ClassifyRequest;
  /** Tokenized from the moment the group arrived (see `push`). */
  run: Promise<ScoringRun<unknown>>;
}

/**
 * The inference thread's work, one step at a time: online groups first, each whole; bulk groups
 * a forward pass at a time, with a turn of the event loop between steps, so that an online group
 * posted while a bulk pass runs goes before the bulk group's next pass. The {@link BulkPassPolicy}
 * sizes each bulk pass (cut small while online work is about) and learns from every pass.
 *
 * A bulk group is tokenized the moment it arrives, not when it reaches the head: `tokenizers`
 * encodes on its own threads, so the groups queued behind a pass are tokenized while that pass
 * holds this thread, and the next pass starts as soon as the last one ends.
 */
export class InferenceQueue {
  private readonly online: ClassifyRequest[] = [];
  private readonly bulk: BulkWork[] = [];
  private draining = false;

  constructor(
    private readonly handler: Handler<unknown>,
    private readonly limits: PackingLimits,
    private readonly policy: BulkPassPolicy,
    /** Posts a message to the main thread, moving the buffers of `transfer` with it. */
    private readonly answer: (message: ThreadMessage, transfer?: ArrayBuffer[]) => void,
    /**
     * Takes the groups posted during the last step at once (a forward pass holds the thread, and
     * the event loop may run another step before it delivers them).
     */
    private readonly receive: () => void = () => undefined,
  ) {}

  /** Queues a group; its answer (or error) is posted once it has been scored. */
  push(request: ClassifyRequest): void {
    if (request.bulk) {
      const run = ScoringRun.start(this.handler, request.texts, {
        probabilities: request.probabilities,
        rowScores: true,
      });
      // Its error is answered when the group reaches the head (see `step`).
      run.catch(() => undefined);
      this.bulk.push({ request, run });
    } else {
      this.online.push(request);
      this.policy.onlineSeen();
    }
    void this.drain();
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      for (;;) {
        this.receive();
        if (this.online.length === 0 && this.bulk.length === 0) break;
        await this.step();
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      this.draining = false;
    }
  }

  private async step(): Promise<void> {
    const online = this.online.shift();
    if (online) {
      await this.settle(online, async () => {
        const outcome = await classifyTexts(this.handler, online.texts, this.limits, {
          probabilities: online.probabilities,
          rowScores: true,
        });
        for (const pass of outcome.batches) this.policy.observe(pass);
        return outcome;
      });
      this.policy.onlineSeen();
      return;
    }
    const work = this.bulk[0];
    await this.settle(work.request, async () => {
      const run = await work.run;
      if (!run.done) this.policy.observe(await run.runPass(this.policy.bulkLimits()));
      return run.done ? run.outcome : undefined;
    });
  }

  /** Runs a step of `request`; posts its answer when the step finished it, or its error. */
  private async settle(
    request: ClassifyRequest,
    step: () => Promise<ClassifyOutcome<unknown> | undefined>,
  ): Promise<void> {
    try {
      const outcome = await step();
      if (!outcome) return;
      this.forget(request);
      // The typed answers move to the main thread (no copy); it makes the answers' objects.
      const { scores } = outcome;
      const transfer = scores
        ? [scores.label, scores.probability, scores.probabilities].flatMap((a) =>
            a ? [a.buffer as ArrayBuffer] : [],
          )
        : [];
      this.answer({ type: 'result', id: request.id, ...outcome }, transfer);
    } catch (error) {
      this.forget(request);
      const e = error instanceof Error ? error : new Error(String(error));
      this.answer({ type: 'error', id: request.id, name: e.name, message: e.message });
    }
  }

  private forget(request: ClassifyRequest): void {
    if (this.bulk[0]?.request === request) this.bulk.shift();
  }
}
