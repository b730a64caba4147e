import { Inject, Injectable } from '@nestjs/common';
import type { JobOutcome, PredictionJobData, PredictionJobResult } from '@app/common';
import { versionKey } from '@app/registry';
import { API_CONFIG, type ApiConfig } from '../config';
import type { ResolvedVersion } from '../core/model-catalog';
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
 * text request cheap: one add, one fetch, one completion and one event in Redis for them all.
 * A lone request makes a job of its own, as it would without coalescing. Each request keeps a
 * pollable id of its own that shows only its own texts: a lone request's is the job id; one that
 * shares a job gets `<job id>.<secret>` (see {@link PredictionStore.newPartId}), and the shared
 * job's own id opens nothing.
 */
@Injectable()
export class RequestCoalescer {
  private readonly open = new Map<string, Gathering>();

  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly queue: PredictionQueue,
  ) {}

  /** Puts the request's texts on the version's queue, with others, and waits for its answer. */
  answer(target: ResolvedVersion, request: SyncRequest): Promise<SyncAnswer> {
    const max = this.config.COALESCE_MAX_TEXTS;
    const { name, version } = target.record;
    const key = `${versionKey(name, version)}|${request.probabilities === true}`;
    let gathering = this.open.get(key);
    if (gathering && gathering.texts + request.texts.length > max) {
      this.open.delete(key);
      void this.send(gathering);
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
      setImmediate(() => {
        // A gathering that reached COALESCE_MAX_TEXTS was sent then, and is not open any more.
        if (this.open.get(key) !== fresh) return;
        this.open.delete(key);
        void this.send(fresh);
      });
    }
    gathering.texts += request.texts.length;
    const { requests } = gathering;
    return new Promise<SyncAnswer>((answer, fail) => requests.push({ request, answer, fail }));
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
