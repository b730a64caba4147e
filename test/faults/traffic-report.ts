import assert from 'node:assert/strict';

/** Counts of one run, as the table prints them. */
export interface TrafficReport {
  fault: string;
  sent: number;
  /** Async creates answered 202/200 with an id, sync calls answered 200, or 504/500 with an id. */
  accepted: number;
  succeeded: number;
  failed: number;
  canceled: number;
  /** Accepted jobs that never reached a terminal state, or that the API no longer knows. */
  lost: string[];
  /** Jobs that reached a terminal state more than once (per the queue's event stream). */
  duplicated: string[];
  /**
   * Requests refused (an error status without an id, or no connection) that were sent or
   * answered while the fault lasted (a caller may learn of a fault only at its own timeout).
   */
  refusedDuringFault: number;
  /** Requests accepted while the fault lasted (what the processes left alive served). */
  acceptedDuringFault: number;
  /** ... and outside the fault: a control, 0 when only the fault refuses requests. */
  refusedOutside: number;
  /** Requests shed for load (503 Overloaded, 429), at any time: not counted as refused. */
  shed: number;
  /** Refusals by answer: HTTP status, or the error of a request that got none (ECONNREFUSED). */
  refusals: Record<string, number>;
}

/** The table the fault suite prints: one line per fault. */
export const REPORT_HEADER =
  '| fault | sent | accepted | succeeded | failed | lost | duplicated | refused during fault | refused outside | shed for load | refusals by answer |\n' +
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |';

export function reportLine(r: TrafficReport): string {
  return `| ${r.fault} | ${r.sent} | ${r.accepted} | ${r.succeeded} | ${r.failed} | ${r.lost.length} | ${r.duplicated.length} | ${r.refusedDuringFault} | ${r.refusedOutside} | ${r.shed} | ${
    Object.entries(r.refusals)
      .map(([answer, n]) => `${answer}: ${n}`)
      .join(', ') || '-'
  } |`;
}

/** Prints the table of the runs of a file (to stdout, where the test runner shows it). */
export function printReports(reports: TrafficReport[]): void {
  if (reports.length === 0) return;
  process.stdout.write(`\n${REPORT_HEADER}\n${reports.map(reportLine).join('\n')}\n\n`);
}

/** Every accepted job reached exactly one terminal state, and traffic did flow. */
export function assertNothingLost(report: TrafficReport): void {
  assert.ok(report.accepted > 0, `${report.fault}: no request was accepted at all`);
  assert.deepEqual(report.lost, [], `${report.fault}: accepted jobs lost`);
  assert.deepEqual(report.duplicated, [], `${report.fault}: jobs finished twice`);
}
