import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES } from './paths';

/** What the fragile handler does next, by the file the test puts in its package folder. */
export type FragileSwitch = 'die' | 'die-always' | 'hold' | 'fail' | 'block';

/**
 * A temporary model store holding `test/fixtures/fragile-handler` as `fragile` (model `fragile`,
 * version 1): a custom handler (it needs ALLOW_PACKAGE_CODE=true) whose inference thread dies,
 * holds its start, fails or blocks a forward pass when the test flips a switch (see the
 * handler). `seen()` lists the texts that reached the handler, in the order it got them.
 */
export function fragileStore() {
  const store = mkdtempSync(join(tmpdir(), 'modelfleet-fragile-'));
  const dir = join(store, 'fragile');
  cpSync(join(FIXTURES, 'fragile-handler'), dir, { recursive: true });
  return {
    store,
    on: (name: FragileSwitch) => writeFileSync(join(dir, name), ''),
    off: (name: FragileSwitch) => rmSync(join(dir, name), { force: true }),
    seen: (): string[] => {
      const file = join(dir, 'seen');
      return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
    },
    remove: () => rmSync(store, { recursive: true, force: true }),
  };
}
