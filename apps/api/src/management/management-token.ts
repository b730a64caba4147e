import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ApiConfig } from '../config';

/**
 * The bearer token of the management API: MANAGEMENT_TOKEN when set, else the content of
 * MANAGEMENT_TOKEN_FILE, which is created with a random token on first start (as TorchServe
 * writes its key file). Undefined when MANAGEMENT_AUTH is off.
 */
export function managementToken(config: ApiConfig): { token?: string; createdFile?: string } {
  if (!config.MANAGEMENT_AUTH) return {};
  if (config.MANAGEMENT_TOKEN) return { token: config.MANAGEMENT_TOKEN };
  const file = config.MANAGEMENT_TOKEN_FILE;
  if (existsSync(file)) return { token: readFileSync(file, 'utf8').trim() };
  const token = randomBytes(24).toString('base64url');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return { token, createdFile: file };
}
