import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { commonSettings } from '@app/common';
import { apiSettings } from '../../apps/api/src/config';
import { serveSettings } from '../../apps/cli/src/serve/serve-command';
import { workerSettings } from '../../apps/worker/src/config';
import { ROOT } from '../support/paths';

/** The page that holds the settings table. */
const SETTINGS_PAGE = 'docs/settings.md';

describe(`the settings table (${SETTINGS_PAGE})`, () => {
  const table = readFileSync(join(ROOT, SETTINGS_PAGE), 'utf8');
  const documented = new Set([...table.matchAll(/^\|\s*`([A-Z_]+)`\s*\|/gm)].map((m) => m[1]));

  it('documents every setting the code reads, and no other', () => {
    const keys = new Set([
      ...Object.keys(commonSettings),
      ...Object.keys(apiSettings.shape),
      ...Object.keys(workerSettings.shape),
      ...Object.keys(serveSettings.shape),
    ]);
    assert.deepEqual(
      [...keys].filter((k) => !documented.has(k)).sort(),
      [],
      `settings missing from ${SETTINGS_PAGE}`,
    );
    assert.deepEqual(
      [...documented].filter((k) => !keys.has(k)).sort(),
      [],
      `settings of ${SETTINGS_PAGE} the code does not read`,
    );
  });
});
