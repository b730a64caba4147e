/**
 * Where a bulk run's wall time goes, from the forward passes a worker reports (its debug line
 * `group scored`, one per group, with each pass's start and duration) laid on the benchmark's
 * clock: all times are ms since the Unix epoch.
 */
import { fmt } from './data';

/** One forward pass: when it began and how long it held the device. */
export interface Pass {
  startedAt: number;
  ms: number;
}

/** A span of time. */
export interface Window {
  from: number;
  to: number;
}

/** The moments of a bulk run the benchmark sees itself. */
export interface BulkMoments {
  /** The upload began. */
  postedAt: number;
  /** The API answered 202: every row read and queued. */
  acceptedAt: number;
  /** The batch was complete (its `completed_at`). */
  completedAt: number;
}

/** A bulk run's wall time, cut in parts that add up to it. */
export interface GapBudget {
  totalMs: number;
  /** Reading the upload and queueing its chunks, until the 202 (or the first pass, if earlier). */
  uploadMs: number;
  /** From the 202 to the start of the first pass (0 when the pass came first). */
  toFirstPassMs: number;
  /** The device busy: the union of the passes. */
  inPassesMs: number;
  /** The device idle between the first pass and the last one. */
  betweenPassesMs: number;
  /** From the end of the last pass to the batch's completion. */
  finishMs: number;
  passes: number;
}

/** Time covered by at least one pass within `window` (overlapping passes count once). */
export function busyMs(passes: readonly Pass[], window: Window): number {
  const spans = passes
    .map((p) => ({
      from: Math.max(p.startedAt, window.from),
      to: Math.min(p.startedAt + p.ms, window.to),
    }))
    .filter((s) => s.to > s.from)
    .sort((a, b) => a.from - b.from);
  let total = 0;
  let reach = -Infinity;
  for (const { from, to } of spans) {
    if (to <= reach) continue;
    total += to - Math.max(from, reach);
    reach = to;
  }
  return total;
}

/** From the start of the first pass to the end of the last one. */
export function passSpan(passes: readonly Pass[]): Window {
  if (passes.length === 0) throw new Error('no forward pass to span');
  return {
    from: Math.min(...passes.map((p) => p.startedAt)),
    to: Math.max(...passes.map((p) => p.startedAt + p.ms)),
  };
}

/**
 * The middle of the pass span, without its first and last `trim` share: the run once the first
 * chunks are in and before the last ones drain, where the pipeline is in its steady state.
 */
export function steadyWindow(passes: readonly Pass[], trim = 0.1): Window {
  const { from, to } = passSpan(passes);
  const cut = (to - from) * trim;
  return { from: from + cut, to: to - cut };
}

/** Share of `window` the device was busy, 0 to 1. */
export function busyShare(passes: readonly Pass[], window: Window): number {
  return busyMs(passes, window) / (window.to - window.from);
}

/** Cuts a bulk run's wall time by what the device was doing; the passes are the run's own. */
export function gapBudget(moments: BulkMoments, passes: readonly Pass[]): GapBudget {
  const span = passSpan(passes);
  const inPassesMs = busyMs(passes, span);
  // The API answers 202 once it has queued the last chunk: a worker may start before it arrives.
  const readyAt = Math.min(moments.acceptedAt, span.from);
  return {
    totalMs: moments.completedAt - moments.postedAt,
    uploadMs: readyAt - moments.postedAt,
    toFirstPassMs: span.from - readyAt,
    inPassesMs,
    betweenPassesMs: span.to - span.from - inPassesMs,
    finishMs: moments.completedAt - span.to,
    passes: passes.length,
  };
}

/**
 * The passes of the worker log lines `group scored` (pino JSON, parsed) that began at or after
 * `since`: a worker writes them at LOG_LEVEL=debug.
 */
export function loggedPasses(logs: readonly Record<string, unknown>[], since: number): Pass[] {
  return logs
    .filter((line) => line.msg === 'group scored' && Array.isArray(line.passes))
    .flatMap((line) => line.passes as { startedAt: number; inferenceMs: number }[])
    .map((p) => ({ startedAt: p.startedAt, ms: p.inferenceMs }))
    .filter((p) => p.startedAt >= since);
}

/** The budget as Markdown table rows (`| part | ms | share |`), the total last. */
export function budgetRows(budget: GapBudget): string[] {
  const row = (part: string, ms: number) =>
    `| ${part} | ${fmt(ms, 0)} | ${fmt((100 * ms) / budget.totalMs)}% |`;
  return [
    '| where the wall time went | ms | share |',
    '|---|---:|---:|',
    row('upload and enqueue (to the 202 or the first pass)', budget.uploadMs),
    row('to the first pass', budget.toFirstPassMs),
    row(`in passes (${budget.passes}, the device busy)`, budget.inPassesMs),
    row('between passes (the device idle)', budget.betweenPassesMs),
    row('finish (last pass to batch complete)', budget.finishMs),
    row('end to end', budget.totalMs),
  ];
}

/** The steady window of a run's passes (see {@link steadyWindow}), cut as the budget cuts. */
export interface SteadyBudget {
  windowMs: number;
  inPassesMs: number;
  betweenPassesMs: number;
}

/** How the steady window of `passes` splits between the device busy and idle. */
export function steadyBudget(passes: readonly Pass[]): SteadyBudget {
  const window = steadyWindow(passes);
  const inPassesMs = busyMs(passes, window);
  const windowMs = window.to - window.from;
  return { windowMs, inPassesMs, betweenPassesMs: windowMs - inPassesMs };
}

/** The steady window's split as Markdown table rows, beside the end-to-end budget. */
export function steadyRows(steady: SteadyBudget): string[] {
  const row = (part: string, ms: number) =>
    `| ${part} | ${fmt(ms, 0)} | ${fmt((100 * ms) / steady.windowMs)}% |`;
  return [
    "| the steady window (the passes' span less its first and last tenth) | ms | share |",
    '|---|---:|---:|',
    row('in passes (the device busy)', steady.inPassesMs),
    row('between passes (the device idle)', steady.betweenPassesMs),
    row('the window', steady.windowMs),
  ];
}
