import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BacklogEstimate } from './backlog-estimate';

describe('BacklogEstimate', () => {
  it('counts adds in flight and settled on top of the last count read', () => {
    const estimate = new BacklogEstimate();
    estimate.readStarted(0);
    estimate.readDone(3);
    estimate.addStarted();
    assert.equal(estimate.jobs, 4);
    estimate.addEnded(true);
    estimate.addStarted();
    estimate.addEnded(false);
    assert.equal(estimate.jobs, 4, 'a failed add adds nothing');
  });

  it('keeps counting adds that settled before a read until its count arrives', () => {
    const estimate = new BacklogEstimate();
    estimate.addStarted();
    estimate.addEnded(true);
    estimate.readStarted(0);
    assert.equal(estimate.jobs, 1, 'the read may not have seen it yet');
    estimate.addStarted();
    estimate.addEnded(true);
    estimate.readDone(1);
    // The read saw the first add; the second may have landed after it, so it still counts.
    assert.equal(estimate.jobs, 2);
  });

  it('never counts fewer jobs than this process added, whatever order reads and adds take', () => {
    // Every interleaving of a read (start, Redis executes it, done) with two adds (start, land,
    // end): the estimate is never below the jobs that landed minus those the read could miss.
    const sequences = [
      ['rs', 'rx', 'rd'],
      ['a1s', 'a1l', 'a1e'],
      ['a2s', 'a2l', 'a2e'],
    ];
    let checked = 0;
    for (const order of interleavings(sequences)) {
      const estimate = new BacklogEstimate();
      let landed = 0;
      let seenByRead = 0;
      for (const event of order) {
        if (event === 'rs') estimate.readStarted(0);
        else if (event === 'rx') seenByRead = landed;
        else if (event === 'rd') estimate.readDone(seenByRead);
        else if (event.endsWith('s')) estimate.addStarted();
        else if (event.endsWith('l')) landed++;
        else estimate.addEnded(true);
        assert.ok(estimate.jobs >= landed, `${order.join(' ')}: ${estimate.jobs} < ${landed}`);
      }
      checked++;
    }
    assert.equal(checked, 1680);
  });

  it('is due once per interval, and never while a read is in flight', () => {
    const estimate = new BacklogEstimate();
    assert.equal(estimate.due(0, 250), true);
    estimate.readStarted(0);
    assert.equal(estimate.due(1000, 250), false, 'a read is in flight');
    estimate.readDone(0);
    assert.equal(estimate.due(100, 250), false);
    assert.equal(estimate.due(250, 250), true);
    estimate.readStarted(250);
    estimate.readFailed();
    assert.equal(estimate.due(251, 250), true, 'a failed read is retried at once');
  });
});

/** Every order of the sequences' items that keeps each sequence's own order. */
function interleavings<T>(sequences: T[][]): T[][] {
  const live = sequences.filter((s) => s.length > 0);
  if (live.length === 0) return [[]];
  return live.flatMap((sequence) =>
    interleavings(live.map((s) => (s === sequence ? s.slice(1) : s))).map((rest) => [
      sequence[0],
      ...rest,
    ]),
  );
}
