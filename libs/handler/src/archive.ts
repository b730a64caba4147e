import { createReadStream, rmSync, type Stats } from 'node:fs';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, normalize } from 'node:path';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar';
import { ModelPackageError } from './errors';

/** Limits an archive must keep before anything of it is used. */
export interface ArchiveLimits {
  /** Largest archive in bytes, packed and unpacked. */
  readonly maxBytes: number;
  /** Most entries (files and folders) it may hold. */
  readonly maxEntries: number;
}

/** Default ceiling on an archive's size, packed and unpacked: 1 GiB. */
export const DEFAULT_MAX_ARCHIVE_BYTES = 1024 ** 3;
/** Default ceiling on an archive's entries: a model package holds a handful of files. */
export const DEFAULT_MAX_ARCHIVE_ENTRIES = 1000;

const DEFAULT_LIMITS: ArchiveLimits = {
  maxBytes: DEFAULT_MAX_ARCHIVE_BYTES,
  maxEntries: DEFAULT_MAX_ARCHIVE_ENTRIES,
};

/** Creates a gzipped tar of `files` (paths relative to `cwd`) at `file`. */
export async function writeArchive(file: string, cwd: string, files: string[]): Promise<void> {
  await tar.c({ gzip: true, file, cwd, portable: true }, files);
}

/**
 * Lists an archive without writing anything, and rejects it when an entry would land outside
 * its folder (absolute path, `..`), is not a plain file or folder (links, devices), or when the
 * archive breaks a limit. Stops reading at the first problem.
 */
export async function inspectArchive(
  file: string,
  limits: ArchiveLimits = DEFAULT_LIMITS,
): Promise<string[]> {
  return streamArchive(file, limits, (filter) => {
    const parser = new tar.Parser({ ...READ_ONLY_TAR, filter });
    // Listing only: each entry's content is read past, never kept.
    parser.on('entry', (entry: tar.ReadEntry) => entry.resume());
    return parser;
  });
}

/**
 * Unpacks an archive into a new private folder (mode 0700, from `mkdtemp`) of this process and
 * returns it. Nothing is ever reused: each call unpacks afresh, so no folder another process
 * could have prepared is trusted. On any failure the folder is removed; otherwise the caller
 * removes it with `removeUnpacked` when done, and whatever is left goes when the process exits.
 */
export async function extractArchive(
  file: string,
  limits: ArchiveLimits = DEFAULT_LIMITS,
): Promise<string> {
  await inspectArchive(file, limits);
  const dir = await mkdtemp(join(tmpdir(), 'modelfleet-package-'));
  unpacked.add(dir);
  try {
    await streamArchive(
      file,
      limits,
      (filter) =>
        new tar.Unpack({
          ...READ_ONLY_TAR,
          cwd: dir,
          filter,
          // Files belong to this process, whatever owner the archive names (tar keeps it for root).
          preserveOwner: false,
          noMtime: true,
        }),
    );
  } catch (error) {
    await removeUnpacked(dir);
    throw error;
  }
  return dir;
}

/** Removes a folder `extractArchive` returned; other paths are left alone. */
export async function removeUnpacked(dir: string): Promise<void> {
  if (!unpacked.delete(dir)) return;
  await rm(dir, { recursive: true, force: true });
}

/** Folders this process unpacked and has not removed yet; removed at exit. */
const unpacked = new Set<string>();
process.once('exit', () => {
  for (const dir of unpacked) rmSync(dir, { recursive: true, force: true });
});

/**
 * What tar is told when it reads: strict, and no decompressing of its own. tar inflates gzip (and
 * zstd, where Node has it) that it finds in what it is fed, out of sight of the byte count below;
 * zstd is switched off here and a gzip inside the gzip is refused before tar sees it.
 */
const READ_ONLY_TAR = { strict: true, zstd: false } as const;

/** tar's filter type; when reading an archive it is always given a `ReadEntry`. */
type EntryFilter = (path: string, entry: tar.ReadEntry | Stats) => boolean;

/**
 * Streams an archive into `sink` (a tar Parser or Unpack), checking each entry before the sink
 * takes it. Gzip is inflated by Node's zlib on the thread pool, in small chunks, rather than by
 * tar's own synchronous inflater: a bomb never holds the event loop, and the unpacked byte count
 * stops it at the limit.
 */
async function streamArchive(
  file: string,
  limits: ArchiveLimits,
  makeSink: (filter: EntryFilter) => tar.Parser,
): Promise<string[]> {
  const packed = (await stat(file)).size;
  if (packed > limits.maxBytes) {
    throw new ModelPackageError(
      `archive ${file} is ${packed} bytes, over the limit of ${limits.maxBytes}`,
    );
  }
  const gzipped = await isGzip(file);
  return new Promise((resolve, reject) => {
    const entries: string[] = [];
    let declared = 0;
    let streamed = 0;
    let settled = false;
    const source = createReadStream(file);
    const inflate = gzipped ? createGunzip() : undefined;
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      source.destroy();
      inflate?.destroy();
      sink.abort(error);
      reject(
        error instanceof ModelPackageError
          ? error
          : new ModelPackageError(`archive ${file} cannot be read: ${error.message}`),
      );
    };
    const sink = makeSink((path, stats) => {
      const entry = stats as tar.ReadEntry;
      declared += entry.size ?? 0;
      const problem =
        isAbsolute(path) || normalize(path).split(/[\\/]/).includes('..')
          ? `archive entry "${path}" escapes its folder`
          : entry.type !== 'File' && entry.type !== 'Directory'
            ? `archive entry "${path}" is a ${entry.type}; only files and folders are allowed`
            : entries.length >= limits.maxEntries
              ? `archive ${file} has more than ${limits.maxEntries} entries, the limit`
              : declared > limits.maxBytes
                ? `archive ${file} unpacks to more than the limit of ${limits.maxBytes} bytes`
                : undefined;
      if (problem) fail(new ModelPackageError(problem));
      else entries.push(path);
      return !problem;
    });
    const tarStream = inflate ?? source;
    let head = Buffer.alloc(0);
    tarStream.on('data', (chunk: Buffer) => {
      if (head.length < GZIP_MAGIC.length) {
        head = Buffer.concat([head, chunk]).subarray(0, GZIP_MAGIC.length);
        if (head.equals(GZIP_MAGIC)) {
          const problem = `archive ${file} is a gzip inside a gzip; only a tar or a gzipped tar is read`;
          fail(new ModelPackageError(problem));
        }
      }
      streamed += chunk.length;
      if (streamed > limits.maxBytes + TAR_OVERHEAD_BYTES) {
        fail(
          new ModelPackageError(
            `archive ${file} unpacks to more than the limit of ${limits.maxBytes} bytes`,
          ),
        );
      }
    });
    source.on('error', fail);
    inflate?.on('error', fail);
    sink.on('error', fail);
    sink.on('close', () => {
      if (settled) return;
      settled = true;
      resolve(entries);
    });
    if (inflate) source.pipe(inflate).pipe(sink);
    else source.pipe(sink);
  });
}

/** Headers and padding a tar stream adds to its files' bytes: allowed beyond the byte limit. */
const TAR_OVERHEAD_BYTES = 1024 * 1024;

/** The two bytes a gzip stream starts with. */
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);

/** Whether a file starts with gzip's magic bytes. */
export async function isGzip(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(2), 0, 2, 0);
    return bytesRead === 2 && buffer.equals(GZIP_MAGIC);
  } finally {
    await handle.close();
  }
}
