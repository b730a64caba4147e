import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { progressFields } from './score-command';

describe("score's progress line", () => {
  it('says the rate and time left are being measured until the server has them', () => {
    const fields = progressFields({ rows_per_second: null, eta_seconds: null, status: 'running' });
    assert.deepEqual(fields, {
      speed: 'rows/s measuring',
      eta: 'ETA measuring',
      status: 'running',
    });
  });

  it('shows the time left in seconds, minutes or hours, never a placeholder unit', () => {
    const eta = (seconds: number) =>
      progressFields({ rows_per_second: 812.5, eta_seconds: seconds, status: 'running' }).eta;
    assert.equal(eta(0), 'ETA 0s');
    assert.equal(eta(41.6), 'ETA 42s');
    assert.equal(eta(185), 'ETA 3m 05s');
    assert.equal(eta(3725), 'ETA 1h 02m');
    assert.equal(
      progressFields({ rows_per_second: 812.5, eta_seconds: 3, status: 'running' }).speed,
      '812.5 rows/s',
    );
  });
});
