import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES } from './paths';

/** What the fragile handler does next, by the file the test puts in its package folder. */
export type FragileSwitch = 'die' | 'die-always' | 'hold' | 'fail';

/**
 * A temporary model store holding `test/fixtures/fragile-handler` as `fragile` (model `fragile`,
 * version 1): a custom handler (it needs ALLOW_PACKAGE_CODE=true) whose inference thread dies,
 * holds its start or fails a forward pass when the test flips a switch (see the handler).
 */
export function fragileStore() {
  const store = mkdtempSync(join(tmpdir(), 'modelfleet-fragile-'));
  const dir = join(store, 'fragile');
  cpSync(join(FIXTURES, 'fragile-handler'), dir, { recursive: true });
  return {
    store,
    on: (name: FragileSwitch) => writeFileSync(join(dir, name), ''),
    off: (name: FragileSwitch) => rmSync(join(dir, name), { force: true }),
    remove: () => rmSync(store, { recursive: true, force: true }),
  };
}
