import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, normalize } from 'node:path';
import * as tar from 'tar';
import { ModelPackageError } from './errors';

/** Default ceiling on an archive's size, packed and unpacked: 1 GiB. */
export const DEFAULT_MAX_ARCHIVE_BYTES = 1024 ** 3;

/** Creates a gzipped tar of `files` (paths relative to `cwd`) at `file`. */
export async function writeArchive(file: string, cwd: string, files: string[]): Promise<void> {
  await tar.c({ gzip: true, file, cwd, portable: true }, files);
}

/**
 * Lists an archive and rejects it when an entry would land outside its folder
 * (absolute path, `..`, links) or when it is bigger than `maxBytes`, packed or unpacked.
 */
export async function inspectArchive(file: string, maxBytes: number): Promise<string[]> {
  const packed = statSync(file).size;
  if (packed > maxBytes) {
    throw new ModelPackageError(
      `archive ${file} is ${packed} bytes, over the limit of ${maxBytes}`,
    );
  }
  const entries: string[] = [];
  let unpacked = 0;
  let problem: string | undefined;
  await tar
    .t({
      file,
      strict: true,
      onReadEntry: (entry) => {
        const path = entry.path;
        unpacked += entry.size ?? 0;
        if (problem) return;
        if (isAbsolute(path) || normalize(path).split(/[\\/]/).includes('..')) {
          problem = `archive entry "${path}" escapes its folder`;
        } else if (entry.type !== 'File' && entry.type !== 'Directory') {
          problem = `archive entry "${path}" is a ${entry.type}; only files and folders are allowed`;
        } else if (unpacked > maxBytes) {
          problem = `archive ${file} unpacks to more than the limit of ${maxBytes} bytes`;
        }
        entries.push(path);
      },
    })
    .catch((error: Error) => {
      throw new ModelPackageError(`archive ${file} cannot be read: ${error.message}`);
    });
  if (problem) throw new ModelPackageError(problem);
  return entries;
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Checks and unpacks an archive into a folder named after its content hash under `root`,
 * reusing that folder when the same archive was unpacked before. Returns the folder.
 */
export async function extractArchive(
  file: string,
  maxBytes = DEFAULT_MAX_ARCHIVE_BYTES,
  root = join(tmpdir(), 'modelfleet-packages'),
): Promise<string> {
  await inspectArchive(file, maxBytes);
  const target = join(root, (await sha256(file)).slice(0, 32));
  if (existsSync(target)) return target;
  const staging = `${target}.${process.pid}.tmp`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  await tar.x({ file, cwd: staging, strict: true });
  try {
    renameSync(staging, target);
  } catch (error) {
    // Another process unpacked the same archive first; theirs is identical.
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(target)) throw error;
  }
  return target;
}
