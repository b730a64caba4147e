import { join, resolve } from 'node:path';

/** Repository root, found from the compiled file's location (dist/test/support). */
export const ROOT = resolve(__dirname, '..', '..', '..');
/** The demo package the project ships (tests serve it from a temporary store, never from here). */
export const DEMO_MODEL = join(ROOT, 'models', 'ag-news-bert');
/** Files the tests read, shipped in the repository. */
export const FIXTURES = join(ROOT, 'test', 'fixtures');
