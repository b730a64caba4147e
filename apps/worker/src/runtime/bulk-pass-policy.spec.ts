import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BulkPassPolicy, ONLINE_QUIET_MS, PassCost } from './bulk-pass-policy';

const limits = { maxBatchTokens: 8192, maxBatchSize: 128, passOverheadTokens: 64 };

describe('PassCost', () => {
  it('turns a time budget into tokens at the measured cost, counting the pass overhead', () => {
    const cost = new PassCost(64);
    // 1,000 padded tokens + 64 overhead in 10.64 ms: 0.01 ms per token.
    cost.observe({ paddedTokens: 1000, inferenceMs: 10.64 });
    assert.equal(cost.tokensWithin(50), 5000 - 64);
  });

  it('gives no tokens (a text per pass) before any pass was measured', () => {
    assert.equal(new PassCost().tokensWithin(50), 0);
  });

  it('follows a change of speed as a moving average', () => {
    const cost = new PassCost(0, 0.5);
    cost.observe({ paddedTokens: 100, inferenceMs: 100 });
    cost.observe({ paddedTokens: 100, inferenceMs: 300 });
    // 1 ms, then 3 ms per token: the estimate is half way, 2 ms.
    assert.equal(cost.tokensWithin(100), 50);
  });
});

describe('BulkPassPolicy', () => {
  it('keeps bulk passes at the version limits while no online group was seen', () => {
    const policy = new BulkPassPolicy(limits, 50, () => 0);
    policy.observe({ paddedTokens: 936, inferenceMs: 10 });
    assert.deepEqual(policy.bulkLimits(), limits);
  });

  it('cuts bulk passes to the pass budget while online work is about, and not after it', () => {
    let now = 0;
    const policy = new BulkPassPolicy(limits, 50, () => now);
    policy.observe({ paddedTokens: 936, inferenceMs: 10 }); // 0.01 ms per token
    policy.onlineSeen();
    now += ONLINE_QUIET_MS - 1;
    assert.equal(policy.bulkLimits().maxBatchTokens, 5000 - 64);
    assert.equal(policy.bulkLimits().maxBatchSize, 128);
    now += 1;
    assert.equal(policy.bulkLimits().maxBatchTokens, 8192);
  });

  it('never raises a pass above the version limits, however cheap a token is', () => {
    const policy = new BulkPassPolicy(limits, 50, () => 0);
    policy.observe({ paddedTokens: 1_000_000, inferenceMs: 1 });
    policy.onlineSeen();
    assert.equal(policy.bulkLimits().maxBatchTokens, 8192);
  });
});
