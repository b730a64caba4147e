import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from '@app/common';
import { managementTokenSchema, type ApiConfig } from '../config';

/**
 * The bearer token of the management API: MANAGEMENT_TOKEN when set, else the content of
 * MANAGEMENT_TOKEN_FILE, which is created with a random token on first start (as TorchServe
 * writes its key file). Undefined only when MANAGEMENT_AUTH is off: a token file that is empty,
 * short or unreadable stops the API with a `ConfigError` naming the file, never opens it.
 */
export function managementToken(config: ApiConfig): {
  token?: string;
  createdFile?: string;
  /** Where an operator finds the token, as a refused caller is told. */
  whereabouts?: string;
} {
  if (!config.MANAGEMENT_AUTH) return {};
  if (config.MANAGEMENT_TOKEN) {
    return { token: config.MANAGEMENT_TOKEN, whereabouts: 'the API setting MANAGEMENT_TOKEN' };
  }
  const file = config.MANAGEMENT_TOKEN_FILE;
  const whereabouts = `${file} on the API's machine (MANAGEMENT_TOKEN_FILE)`;
  if (existsSync(file)) return { token: readTokenFile(file), whereabouts };
  const token = randomBytes(24).toString('base64url');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  return { token, createdFile: file, whereabouts };
}

function readTokenFile(file: string): string {
  const refuse = (why: string) =>
    new ConfigError(
      `invalid settings:\n  MANAGEMENT_TOKEN_FILE: ${file} ${why}; write a token of at least ` +
        '16 characters there, or delete the file to have one generated ' +
        '(MANAGEMENT_AUTH=false is the only way to open the management API)',
    );
  let content: string;
  try {
    content = readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw refuse(`cannot be read: ${(error as Error).message}`);
  }
  const checked = managementTokenSchema.safeParse(content);
  if (!checked.success) {
    const problem = content === '' ? 'is empty' : checked.error.issues[0].message;
    throw refuse(`holds no usable token (${problem})`);
  }
  return checked.data;
}
