import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { VersionRecord } from '@app/registry';
import { chooseVersions } from './fleet-choice';

const version = (v: string, minWorkers: number, maxWorkers = Math.max(1, minWorkers)) =>
  ({ name: 'm', version: v, minWorkers, maxWorkers }) as VersionRecord;

describe('chooseVersions', () => {
  it('takes the version furthest below its min', () => {
    const chosen = chooseVersions(
      [version('1', 2), version('2', 3)],
      new Set(),
      new Map([
        ['m@1', 1],
        ['m@2', 0],
      ]),
      1,
    );
    assert.deepEqual([...chosen], ['m@2']);
  });

  it('keeps what it serves and fills free slots only with versions in need', () => {
    const chosen = chooseVersions(
      [version('1', 1), version('2', 1), version('3', 1)],
      new Set(['m@1']),
      new Map([['m@2', 1]]),
      2,
    );
    assert.deepEqual([...chosen].sort(), ['m@1', 'm@3']);
  });

  it('takes, when idle and every min is met, the version with most room below its max', () => {
    const chosen = chooseVersions(
      [version('1', 1, 2), version('2', 1, 4)],
      new Set(),
      new Map([
        ['m@1', 1],
        ['m@2', 1],
      ]),
      1,
    );
    assert.deepEqual([...chosen], ['m@2']);
  });

  it('drops versions that are no longer registered and takes nothing beyond every max', () => {
    const chosen = chooseVersions([version('1', 1)], new Set(['m@9']), new Map([['m@1', 1]]), 1);
    assert.deepEqual([...chosen], []);
  });
});
