import { agNewsSample } from '../support/texts';
import { assertEventsCover, countTerminalEvents } from './terminal-events';
import type { TrafficReport } from './traffic-report';

/** What a steady stream of requests does during a fault. */
export interface TrafficOptions {
  /** Base URL of the inference API. */
  apiUrl: string;
  model?: string;
  /** Requests per second, async creates and sync calls alternating (default 20). */
  ratePerSecond?: number;
  /** Most requests sent (default 300) and longest time sending (default 30 s): both bound a run. */
  maxRequests?: number;
  maxDurationMs?: number;
  /** Texts per request (default 8). */
  textsPerRequest?: number;
  /** A request with no answer by then counts as refused (default 60 s). */
  requestTimeoutMs?: number;
}

/** Where to check the jobs afterwards: an API that answers, and the Redis of the queues. */
export interface SettleOptions {
  apiUrl: string;
  redisUrl: string;
  keyPrefix?: string;
  version?: string;
  /** How long accepted jobs may take to reach a terminal state (default 120 s). */
  deadlineMs?: number;
}

const TERMINAL = new Set(['succeeded', 'failed', 'canceled']);

interface Outcome {
  kind: 'async' | 'sync';
  at: number;
  /** When it was sent: a request sent during a fault and refused after it is the fault's. */
  sentAt: number;
  /** The job id, when the request was accepted and the answer names it. */
  id?: string;
  accepted: boolean;
  /** The HTTP status, or the error code when there was no answer. */
  answer: string;
  /** A sync call answered 200 (succeeded) or 500 (failed) is terminal already. */
  terminal?: 'succeeded' | 'failed';
  /**
   * Refused as load shedding (503 Overloaded, 429 Too many queued): the API's deliberate answer
   * to more work than the fleet drains in time, which an open loop on a busy machine can send
   * whether or not a fault happens. Not a refusal for want of a process.
   */
  shed?: boolean;
}

const SHED = new Set(['overloaded', 'too-many-queued']);

/**
 * A steady stream of async creates (`POST /v1/predictions`) and sync calls
 * (`POST /predictions/:model`) at a fixed rate, sent whatever the answers (an open loop, as real
 * clients do), bounded in count and time. It records every accepted job and every refusal with
 * its time, so that a test marks when its fault began and ended; `settle` then follows every
 * accepted job to its terminal state and counts lost and duplicated ones.
 *
 * ```ts
 * const traffic = Traffic.start({ apiUrl: stack.apiUrl });   // or a ServeProcess's apiUrl
 * traffic.faultBegins();
 * // ... the fault: kill, pause (SIGSTOP) or break something, and wait until it heals ...
 * traffic.faultEnds();
 * const report = await traffic.settle('Redis paused 5 s', { apiUrl, redisUrl: stack.redis.url });
 * assertNothingLost(report);   // and printReports([...]) in the file's `after` hook
 * ```
 */
export class Traffic {
  private readonly outcomes: Outcome[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly faults: { from: number; to?: number }[] = [];
  private timer?: NodeJS.Timeout;
  private sent = 0;
  private readonly done: Promise<void>;
  private finish!: () => void;
  private readonly texts: string[];

  private constructor(private readonly options: Required<TrafficOptions>) {
    this.texts = agNewsSample(400);
    this.done = new Promise((resolve) => (this.finish = resolve));
  }

  static start(options: TrafficOptions): Traffic {
    const traffic = new Traffic({
      model: 'ag-news-bert',
      ratePerSecond: 20,
      maxRequests: 300,
      maxDurationMs: 30_000,
      textsPerRequest: 8,
      requestTimeoutMs: 60_000,
      ...options,
    });
    traffic.run();
    return traffic;
  }

  /** Accepted so far (for a test that waits until traffic is flowing). */
  get acceptedSoFar(): number {
    return this.outcomes.filter((o) => o.accepted).length;
  }

  /** Marks the start of a fault: refusals from now on count as refused during the fault. */
  faultBegins(): void {
    this.faults.push({ from: Date.now() });
  }

  /** Marks the end of the fault begun last. */
  faultEnds(): void {
    this.faults.at(-1)!.to = Date.now();
  }

  /** Resolves once sending is over (bound reached or {@link stop}) and every answer is in. */
  async finished(): Promise<void> {
    await this.done;
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
  }

  /** Stops sending now and waits for the answers in flight. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.finish();
    await this.finished();
  }

  private run(): void {
    const startedAt = Date.now();
    this.timer = setInterval(() => {
      if (
        this.sent >= this.options.maxRequests ||
        Date.now() - startedAt >= this.options.maxDurationMs
      ) {
        clearInterval(this.timer);
        this.finish();
        return;
      }
      const n = this.sent++;
      const request = this.send(n % 2 === 0 ? 'async' : 'sync', n).then((outcome) => {
        this.outcomes.push(outcome);
      });
      this.inFlight.add(request);
      void request.finally(() => this.inFlight.delete(request));
    }, 1000 / this.options.ratePerSecond);
  }

  private async send(kind: 'async' | 'sync', n: number): Promise<Outcome> {
    const sentAt = Date.now();
    const { apiUrl, model, textsPerRequest, requestTimeoutMs } = this.options;
    const data = Array.from(
      { length: textsPerRequest },
      (_, i) => this.texts[(n * textsPerRequest + i) % this.texts.length],
    );
    const [path, body] =
      kind === 'async'
        ? ['/v1/predictions', { model, input: { data } }]
        : [`/predictions/${model}`, { data }];
    try {
      const response = await fetch(`${apiUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(requestTimeoutMs),
      });
      const text = await response.text();
      const at = Date.now();
      const answer = parse(text);
      const id = typeof answer?.id === 'string' ? answer.id : undefined;
      const base = { kind, at, sentAt, answer: String(response.status) };
      if (kind === 'async') {
        const accepted = (response.status === 202 || response.status === 200) && id !== undefined;
        return { ...base, id, accepted, shed: !accepted && isShed(answer) };
      }
      if (response.status === 200) return { ...base, accepted: true, terminal: 'succeeded' };
      if (response.status === 500 && id) return { ...base, id, accepted: true, terminal: 'failed' };
      if (response.status === 504 && id) return { ...base, id, accepted: true };
      return { ...base, accepted: false, shed: isShed(answer) };
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause;
      return {
        kind,
        at: Date.now(),
        sentAt,
        accepted: false,
        answer: cause?.code ?? (error as Error).name,
      };
    }
  }

  /** Whether a refusal is the fault's: sent or answered while it lasted. */
  private fault(o: Outcome): boolean {
    return this.duringFault(o.sentAt) || this.duringFault(o.at);
  }

  private duringFault(at: number): boolean {
    return this.faults.some((f) => at >= f.from && at <= (f.to ?? Infinity));
  }

  /**
   * Waits for the traffic to end (its bounds, or {@link stop}), follows every accepted job to a terminal state (polling `GET /v1/predictions/:id`), then
   * counts, per job id, the terminal events (`completed`, `failed`) in the queue's event stream:
   * a job finished twice shows two.
   */
  async settle(fault: string, options: SettleOptions): Promise<TrafficReport> {
    await this.finished();
    const deadline = Date.now() + (options.deadlineMs ?? 120_000);
    const accepted = this.outcomes.filter((o) => o.accepted);
    const states = new Map<string, string>();
    let pending = accepted.filter((o) => o.id && !o.terminal).map((o) => o.id!);
    while (pending.length > 0 && Date.now() < deadline) {
      const next: string[] = [];
      for (let i = 0; i < pending.length; i += 32) {
        await Promise.all(
          pending.slice(i, i + 32).map(async (id) => {
            const status = await statusOf(options.apiUrl, id);
            if (status && (TERMINAL.has(status) || status === 'gone')) states.set(id, status);
            else next.push(id);
          }),
        );
      }
      pending = next;
      if (pending.length > 0) await new Promise((r) => setTimeout(r, 250));
    }
    const terminalEvents = await countTerminalEvents(options, this.options.model);
    assertEventsCover(accepted, terminalEvents, states);
    const count = (status: string) =>
      accepted.filter((o) => (o.terminal ?? (o.id && states.get(o.id))) === status).length;
    const lost = accepted
      .filter((o) => !o.terminal)
      .map((o) => o.id!)
      .filter((id) => !TERMINAL.has(states.get(id) ?? ''));
    const refused = this.outcomes.filter((o) => !o.accepted && !o.shed);
    return {
      fault,
      sent: this.sent,
      accepted: accepted.length,
      succeeded: count('succeeded'),
      failed: count('failed'),
      canceled: count('canceled'),
      lost,
      duplicated: [...terminalEvents].filter(([, n]) => n > 1).map(([id]) => id),
      refusedDuringFault: refused.filter((o) => this.fault(o)).length,
      acceptedDuringFault: accepted.filter((o) => this.duringFault(o.at)).length,
      refusedOutside: refused.filter((o) => !this.fault(o)).length,
      shed: this.outcomes.filter((o) => o.shed).length,
      refusals: Object.fromEntries(
        [...new Set(refused.map((o) => o.answer))].map((a) => [
          a,
          refused.filter((o) => o.answer === a).length,
        ]),
      ),
    };
  }
}

function isShed(answer: Record<string, unknown> | undefined): boolean {
  const type = typeof answer?.type === 'string' ? answer.type : '';
  return SHED.has(type.slice(type.lastIndexOf('/') + 1));
}

/** Status of a prediction; 'gone' when the API does not know it (404); undefined when it did not answer. */
async function statusOf(apiUrl: string, id: string): Promise<string | undefined> {
  try {
    const response = await fetch(`${apiUrl}/v1/predictions/${id}`, {
      signal: AbortSignal.timeout(10_000),
    });
    if (response.status === 404) return 'gone';
    if (response.status !== 200) return undefined;
    return (parse(await response.text())?.status as string | undefined) ?? undefined;
  } catch {
    return undefined;
  }
}

function parse(text: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
