import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ThroughputMeter } from './throughput-meter';

describe('ThroughputMeter', () => {
  it('knows nothing before an answer', () => {
    const meter = new ThroughputMeter(() => 0);
    assert.equal(meter.rate, undefined);
    meter.setBusy(true);
    assert.equal(meter.rate, undefined);
  });

  it('reads a steady rate exactly', () => {
    let now = 0;
    const meter = new ThroughputMeter(() => now);
    meter.setBusy(true);
    for (let i = 0; i < 100; i++) {
      now += 10;
      meter.answered(5); // 5 texts every 10 ms: 500 texts/s
    }
    assert.ok(Math.abs(meter.rate! - 500) < 500 * 0.03, String(meter.rate));
  });

  it('ignores idle time: the rate is that of busy spells', () => {
    let now = 0;
    const meter = new ThroughputMeter(() => now);
    meter.setBusy(true);
    now += 100;
    meter.answered(100);
    meter.setBusy(false);
    const busy = meter.rate!;
    now += 60_000;
    assert.equal(meter.rate, busy);
  });

  it('follows a change of speed within its horizon', () => {
    let now = 0;
    const meter = new ThroughputMeter(() => now, 1000);
    meter.setBusy(true);
    const run = (ms: number, textsPer10Ms: number) => {
      for (let t = 0; t < ms; t += 10) {
        now += 10;
        meter.answered(textsPer10Ms);
      }
    };
    run(5000, 10); // 1000 texts/s
    run(5000, 2); // then 200 texts/s: five horizons later, the old speed has faded
    assert.ok(Math.abs(meter.rate! - 200) < 200 * 0.05, String(meter.rate));
  });
});
