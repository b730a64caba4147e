import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Repository root, found from the compiled file's location (dist/test/support). */
export const ROOT = resolve(__dirname, '..', '..', '..');
/** The demo package the project ships. */
export const DEMO_MODEL = join(ROOT, 'models', 'ag-news-bert');
/** Data shared beside the repository, read by tests and benchmarks only. */
export const SHARED_DATA = resolve(ROOT, '..', 'shared', 'data');

/** Path of a file in the shared data folder, or undefined when it is not there. */
export function sharedFile(...parts: string[]): string | undefined {
  const file = join(SHARED_DATA, ...parts);
  return existsSync(file) ? file : undefined;
}
