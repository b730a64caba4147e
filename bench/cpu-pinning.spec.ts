import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatCpuList, parseCpuList, splitCpus } from './cpu-pinning';

describe('CPU lists', () => {
  it('reads ranges and single CPUs as Linux writes them', () => {
    assert.deepEqual(parseCpuList('0-3,6,8-9\n'), [0, 1, 2, 3, 6, 8, 9]);
    assert.deepEqual(parseCpuList('1'), [1]);
  });

  it('refuses what is not a CPU list', () => {
    assert.throws(() => parseCpuList('0-3;6'), /not a CPU list/);
  });

  it('writes them back with ranges folded', () => {
    assert.equal(formatCpuList([9, 0, 1, 2, 3, 6, 8]), '0-3,6,8-9');
  });
});

describe('splitCpus', () => {
  it('gives the load generator the last CPU of two', () => {
    assert.deepEqual(splitCpus([0, 1]), { server: [0], client: [1] });
  });

  it('gives the load generator the last quarter of many', () => {
    assert.deepEqual(splitCpus(parseCpuList('0-15')), {
      server: parseCpuList('0-11'),
      client: parseCpuList('12-15'),
    });
  });

  it('takes SERVER:CLIENT lists when given', () => {
    assert.deepEqual(splitCpus([0, 1, 2, 3], '0,2:3'), { server: [0, 2], client: [3] });
  });

  it('refuses a split it cannot keep', () => {
    assert.throws(() => splitCpus([0]), /two CPUs or more/);
    assert.throws(() => splitCpus([0, 1], '0:2'), /CPUs this process may use/);
    assert.throws(() => splitCpus([0, 1], '0-1:1'), /share CPUs/);
  });
});
