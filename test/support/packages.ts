import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MANIFEST_FILE } from '@app/handler';
import { DEMO_MODEL } from './paths';

/**
 * Copies the demo package into a fresh temporary folder, applies `edit` to its manifest
 * and returns the folder, for tests that need a package slightly (or badly) different.
 */
export function demoPackageCopy(
  edit: (manifest: Record<string, unknown>) => void = () => {},
): string {
  const dir = mkdtempSync(join(tmpdir(), 'modelfleet-pkg-'));
  cpSync(DEMO_MODEL, dir, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8'));
  edit(manifest);
  writeFileSync(join(dir, MANIFEST_FILE), JSON.stringify(manifest));
  return dir;
}
