/**
 * Finds the CUDA libraries the ONNX Runtime CUDA provider loads, wherever this machine keeps
 * them: the library path, the system's linker cache, a CUDA toolkit folder, or the `nvidia-*`
 * wheels of a Python installation (`site-packages/nvidia/<part>/lib`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** A shared library the provider needs, by soname. */
export interface CudaLibrary {
  readonly soname: string;
  /** What it is, for messages. */
  readonly role: string;
  /** Loaded by name at run time (dlopen) rather than linked: it may lack a versioned name. */
  readonly unversionedLink?: string;
  readonly optional?: boolean;
}

/** What the CUDA provider of ONNX Runtime 1.29 (built for CUDA 13) links or opens. */
export const CUDA13_LIBRARIES: readonly CudaLibrary[] = [
  { soname: 'libcudart.so.13', role: 'CUDA 13 runtime' },
  { soname: 'libcublas.so.13', role: 'cuBLAS 13' },
  { soname: 'libcublasLt.so.13', role: 'cuBLASLt 13' },
  { soname: 'libcurand.so.10', role: 'cuRAND' },
  { soname: 'libcufft.so.12', role: 'cuFFT', unversionedLink: 'libcufft.so', optional: true },
  { soname: 'libcudnn.so.9', role: 'cuDNN 9', unversionedLink: 'libcudnn.so', optional: true },
  { soname: 'libnvrtc.so.13', role: 'NVRTC', unversionedLink: 'libnvrtc.so', optional: true },
];

/** Where each library was found (absent ones are missing). */
export type FoundLibraries = Map<string, string>;

/**
 * Folders to search, in order: `explicit` alone when given; else LD_LIBRARY_PATH, the CUDA
 * toolkit, and the lib folders of the `nvidia` packages of every Python on PATH.
 */
export function searchFolders(explicit?: readonly string[]): string[] {
  if (explicit) return [...explicit];
  const folders = [
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    ...(process.env.CUDA_HOME ? [join(process.env.CUDA_HOME, 'lib64')] : []),
    '/usr/local/cuda/lib64',
    ...pythonNvidiaFolders(),
  ];
  return [...new Set(folders)].filter((folder) => existsSync(folder));
}

/** Finds each library in `folders`, then in the system linker cache. */
export function findLibraries(
  folders: readonly string[],
  libraries: readonly CudaLibrary[] = CUDA13_LIBRARIES,
  useLinkerCache = true,
): FoundLibraries {
  const found: FoundLibraries = new Map();
  const cache = useLinkerCache ? linkerCache() : new Map<string, string>();
  for (const { soname } of libraries) {
    const folder = folders.find((f) => existsSync(join(f, soname)));
    const path = folder ? join(folder, soname) : cache.get(soname);
    if (path) found.set(soname, path);
  }
  return found;
}

/** True when the NVIDIA driver's library is loadable (it comes with the driver, not CUDA). */
export function driverLibraryPresent(folders: readonly string[]): boolean {
  const driverFolders = ['/usr/local/nvidia/lib64', '/usr/lib/x86_64-linux-gnu', '/usr/lib64'];
  return (
    findLibraries([...folders, ...driverFolders], [{ soname: 'libcuda.so.1', role: 'driver' }])
      .size > 0
  );
}

function linkerCache(): Map<string, string> {
  const out = spawnSync('ldconfig', ['-p'], { encoding: 'utf8' }).stdout ?? '';
  const cache = new Map<string, string>();
  for (const line of out.split('\n')) {
    const match = /^\s*(\S+) \(([^)]*)\) => (\S+)/.exec(line);
    if (match && match[2].includes('x86-64') && !cache.has(match[1])) cache.set(match[1], match[3]);
  }
  return cache;
}

/** `site-packages/nvidia/<part>/lib` folders of each python3 on PATH. */
function pythonNvidiaFolders(): string[] {
  const script = 'import site, sys; print("\\n".join(site.getsitepackages() + sys.path))';
  const out = spawnSync('python3', ['-c', script], { encoding: 'utf8' }).stdout ?? '';
  const folders: string[] = [];
  for (const root of new Set(out.split('\n').filter(Boolean))) {
    const nvidia = join(root, 'nvidia');
    if (!existsSync(nvidia) || !statSync(nvidia).isDirectory()) continue;
    for (const part of readdirSync(nvidia)) {
      for (const lib of ['lib', 'lib64']) {
        const folder = join(nvidia, part, lib);
        if (existsSync(folder)) folders.push(folder);
      }
    }
  }
  return folders;
}

/** The distinct folders holding the found libraries, in search order. */
export function libraryFolders(found: FoundLibraries): string[] {
  return [...new Set([...found.values()].map((path) => dirname(path)))];
}
