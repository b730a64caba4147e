import { Inject, Injectable } from '@nestjs/common';
import type { JobOutcome, PredictionJobData, PredictionJobResult } from '@app/common';
import { versionKey } from '@app/registry';
import { API_CONFIG, type ApiConfig } from '../config';
import { ModelCatalog, type ResolvedVersion } from '../core/model-catalog';
import { resultShare } from '../core/provenance';
import { latestDeadline, syncWaitMs } from './deadline';
import { PredictionQueue } from './prediction-queue';
import { PredictionStore } from './prediction.store';

/** A sync request's texts, and what it is answered with: its own share of a job. */
export interface SyncRequest {
  texts: string[];
  probabilities?: boolean;
  requestId?: string;
  /** Epoch ms: its answer (a timeout past it) comes by then, and its share runs only before. */
  deadline?: number;
}

/** How a sync request ended, and the id under which it can be polled. */
export interface SyncAnswer {
  id: string;
  outcome: JobOutcome;
}

interface Gathering {
  target: ResolvedVersion;
  probabilities?: boolean;
  texts: number;
  /** Set while the gathering is held because its version has enough jobs unanswered. */
  hold?: { timer: NodeJS.Timeout; until: number };
  requests: {
    request: SyncRequest;
    answer: (answer: SyncAnswer) => void;
    fail: (error: unknown) => void;
  }[];
}

/**
 * Coalesces sync requests: those for the same version (and the same `probabilities` flag) that
 * arrive within one turn of the event loop become one job, up to COALESCE_MAX_TEXTS texts, and
 * each request is answered with its own share. One job instead of many is what makes a single-
 * text request cheap: one add, one fetch, one completion and one reply in Redis for them all.
 * A lone request makes a job of its own, as it would without coalescing.
 *
 * The gathering grows with load, as the worker's grouper does: while this process has a job of
 * the version unanswered for each of the version's live workers, new requests are held and go
 * as one job the moment one of those is answered, at most COALESCE_WAIT_MS later (and never past
 * a request's deadline), or at once when COALESCE_MAX_TEXTS texts are held. Held here, they cost
 * one job (an add, a fetch, a finish and a reply in Redis) instead of one each; under a load that
 * fills a job within one job's time they are never held, so the workers never wait for them.
 *
 * Each request keeps a pollable id of its own that shows only its own texts: a lone request's is
 * the job id; one that shares a job gets `<job id>.<secret>` (see
 * {@link PredictionStore.newPartId}), and the shared job's own id opens nothing.
 */
@Injectable()
export class RequestCoalescer {
  private readonly open = new Map<string, Gathering>();
  /** Jobs sent and not yet answered, by gathering key. */
  private readonly unanswered = new Map<string, number>();

  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly queue: PredictionQueue,
    private readonly fleet: ModelCatalog,
  ) {}

  /** Puts the request's texts on the version's queue, with others, and waits for its answer. */
  answer(target: ResolvedVersion, request: SyncRequest): Promise<SyncAnswer> {
    const max = this.config.COALESCE_MAX_TEXTS;
    const { name, version } = target.record;
    const key = `${versionKey(name, version)}|${request.probabilities === true}`;
    let gathering = this.open.get(key);
    if (gathering && gathering.texts + request.texts.length > max) {
      this.release(key, gathering);
      gathering = undefined;
    }
    if (!gathering) {
      const fresh: Gathering = {
        target,
        probabilities: request.probabilities,
        texts: 0,
        requests: [],
      };
      gathering = fresh;
      this.open.set(key, fresh);
      setImmediate(() => void this.sendOrHold(key, fresh));
    }
    gathering.texts += request.texts.length;
    // A held gathering goes by the earliest deadline among its requests.
    if (gathering.hold && request.deadline !== undefined && request.deadline < gathering.hold.until)
      this.holdUntil(key, gathering, request.deadline);
    const { requests } = gathering;
    return new Promise<SyncAnswer>((answer, fail) => requests.push({ request, answer, fail }));
  }

  /** At the end of the turn a gathering opened in: sent now, or held while the version is busy. */
  private async sendOrHold(key: string, gathering: Gathering): Promise<void> {
    // A gathering that reached COALESCE_MAX_TEXTS was sent then, and is not open any more.
    if (this.open.get(key) !== gathering) return;
    const unanswered = this.unanswered.get(key) ?? 0;
    if (unanswered > 0 && this.config.COALESCE_WAIT_MS > 0) {
      const workers = await this.fleet.live(gathering.target.record).then(
        (live) => live.workers,
        () => 0,
      );
      if (this.open.get(key) !== gathering) return;
      if (unanswered >= Math.max(1, workers)) {
        const deadlines = gathering.requests.flatMap((r) => r.request.deadline ?? []);
        return this.holdUntil(
          key,
          gathering,
          Math.min(Date.now() + this.config.COALESCE_WAIT_MS, ...deadlines),
        );
      }
    }
    this.release(key, gathering);
  }

  private holdUntil(key: string, gathering: Gathering, until: number): void {
    clearTimeout(gathering.hold?.timer);
    const timer = setTimeout(() => this.release(key, gathering), Math.max(0, until - Date.now()));
    gathering.hold = { timer, until };
  }

  /** Sends the gathering if it is still open. */
  private release(key: string, gathering: Gathering): void {
    if (this.open.get(key) !== gathering) return;
    this.open.delete(key);
    clearTimeout(gathering.hold?.timer);
    gathering.hold = undefined;
    this.unanswered.set(key, (this.unanswered.get(key) ?? 0) + 1);
    void this.send(gathering).finally(() => {
      const left = (this.unanswered.get(key) ?? 1) - 1;
      if (left > 0) this.unanswered.set(key, left);
      else this.unanswered.delete(key);
      // One answered: the gathering held behind it goes now.
      const held = this.open.get(key);
      if (held?.hold) this.release(key, held);
    });
  }

  private async send({ target, probabilities, requests }: Gathering): Promise<void> {
    if (requests.length === 0) return;
    const { record } = target;
    const id = PredictionStore.newId(record);
    const data: PredictionJobData = {
      model: record.name,
      version: record.version,
      texts: requests.flatMap((r) => r.request.texts),
      probabilities,
      requestId: requests[0].request.requestId,
      deadline: latestDeadline(requests.map((r) => r.request.deadline)),
      replyTo: this.queue.replyAddress,
    };
    // A lone request's id is the job's; each request of a shared job gets an id of its own.
    const partIds = requests.length > 1 ? requests.map(() => PredictionStore.newPartId(id)) : [];
    if (partIds.length) {
      data.parts = requests.map(({ request }, part) => ({
        count: request.texts.length,
        requestId: request.requestId,
        deadline: request.deadline,
        idDigest: partIds[part].digest,
      }));
    }
    const partId = (part: number) => partIds[part]?.id ?? id;
    // A request whose deadline comes before the job's answer is answered then (a timeout).
    const timers = requests.map(({ request, answer }, part) =>
      request.deadline === undefined
        ? undefined
        : setTimeout(
            () => answer({ id: partId(part), outcome: { status: 'timeout' } }),
            Math.max(0, request.deadline - Date.now()),
          ),
    );
    let settled: JobOutcome;
    // Listen before enqueueing: the answer cannot slip past, and no extra look-up is needed.
    let outcome: Promise<JobOutcome> | undefined;
    try {
      outcome = this.queue.wait(id, syncWaitMs(this.config.SYNC_TIMEOUT_MS, data.deadline), {
        checkFirst: false,
        replyTo: true,
      });
      await this.queue.add(target, id, data, 'sync');
      settled = await outcome;
    } catch (error) {
      // A job added but not acknowledged (REDIS_ACK_REPLICAS) may still finish: nobody awaits it.
      void outcome?.catch(() => undefined);
      // Not queued, or Redis failed the wait: every request fails as its own call would have.
      for (const { fail } of requests) fail(error);
      return;
    } finally {
      timers.forEach((timer) => clearTimeout(timer));
    }
    if (requests.length === 1) return requests[0].answer({ id, outcome: settled });
    let offset = 0;
    requests.forEach(({ request, answer }, part) => {
      const count = request.texts.length;
      answer({
        id: partId(part),
        outcome: shareOf(settled, part, offset, count),
      });
      offset += count;
    });
  }
}

/** A part's share of its job's outcome. */
function shareOf(outcome: JobOutcome, part: number, offset: number, count: number): JobOutcome {
  if (outcome.status !== 'completed') return outcome;
  const result = outcome.value as PredictionJobResult;
  const error = result.partErrors?.[part];
  if (error) return { status: 'failed', reason: error };
  return {
    status: 'completed',
    value: resultShare(result, offset, offset + count),
  };
}
