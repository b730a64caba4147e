import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeathWindow } from './death-window';

describe('DeathWindow', () => {
  it('allows restarts until the max-th death within the window', () => {
    let now = 0;
    const window = new DeathWindow(3, 1000, () => now);
    assert.equal(window.record(), true);
    now = 400;
    assert.equal(window.record(), true);
    now = 800;
    assert.equal(window.record(), false);
    assert.equal(window.recent, 3);
  });

  it('forgets deaths older than the window', () => {
    let now = 0;
    const window = new DeathWindow(2, 1000, () => now);
    assert.equal(window.record(), true);
    now = 1000;
    assert.equal(window.record(), true, 'the first death has left the window');
    now = 1500;
    assert.equal(window.record(), false);
  });

  it('gives up at the first death when max is 1', () => {
    assert.equal(new DeathWindow(1, 1000, () => 0).record(), false);
  });
});
