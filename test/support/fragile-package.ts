import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES } from './paths';
import { Stack, type StackOptions } from './stack';

/** What the fragile handler does next, by the file the test puts in its package folder. */
export type FragileSwitch = 'die' | 'die-always' | 'hold' | 'fail' | 'block';

/** A fragile store: its folder, its switches, and what the handler saw. */
export type FragileStore = ReturnType<typeof fragileStore>;

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

/**
 * A test stack over a fresh fragile store (package code allowed; `options` add to it), with the
 * fragile version's queue; `stop` stops the stack and removes the store.
 */
export async function startFragileStack(options: StackOptions = {}) {
  const fragile = fragileStore();
  let stack: Stack;
  try {
    stack = await Stack.start({
      ...options,
      modelStore: fragile.store,
      // Its tests hold the worker on purpose, for as long as a loaded machine takes: the throughput
      // the worker then reports is as low as that hold was long, and shedding sync calls by it
      // would make their answers a matter of timing. The shedding has tests of its own.
      env: { ALLOW_PACKAGE_CODE: 'true', MAX_QUEUE_WAIT_S: '0', ...options.env },
    });
  } catch (error) {
    fragile.remove();
    throw error;
  }
  const stop = async () => {
    await stack.stop();
    fragile.remove();
  };
  return { fragile, stack, queue: stack.predictionQueue('fragile', '1'), stop };
}
