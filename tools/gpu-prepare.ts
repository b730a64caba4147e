/**
 * The offline CUDA install step of a GPU worker (`npm run gpu:prepare`).
 *
 * onnxruntime-node ships its CPU build; its CUDA provider must come from the same ONNX Runtime
 * release as the core library beside its binding. This step places, under `.gpu/`, a separate
 * onnxruntime-node of the provider's version with the provider libraries beside its binding
 * (the project's own install stays as it is), finds the CUDA 13 libraries the provider loads,
 * and writes `.gpu/env`, which sets ORT_NODE_PATH and LD_LIBRARY_PATH for a worker:
 *
 *   npm run gpu:prepare -- [--from <folder>] [--cuda-path <folder>]... [--out <folder>]
 *   . .gpu/env && DEVICE=cuda npm run start:worker
 *
 * `--from` names a folder holding the packages (npm tarballs `onnxruntime-node-<v>.tgz`,
 * `onnxruntime-common-<v>.tgz` and the provider package, or those packages unpacked, or the
 * provider `.so` files themselves): that is the route of a machine without network. Without
 * it, `npm pack` fetches them from the npm registry. `--cuda-path` restricts the search for
 * CUDA libraries to the folders given. It ends with one line saying what it did, or one line
 * saying what is missing (exit code 1).
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as tar from 'tar';
import {
  CUDA13_LIBRARIES,
  driverLibraryPresent,
  findLibraries,
  libraryFolders,
  searchFolders,
} from './cuda-libraries';

/** The provider build this step installs, and the onnxruntime-node release it pairs with. */
export const GPU_RUNTIME = {
  ortVersion: '1.29.0',
  providerPackage: 'com.github.asus4.onnxruntime.linux-x64-gpu',
  providerPackageVersion: '0.4.9',
  providerDir: 'Plugins/Linux/x64',
  providerLibraries: ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so'],
} as const;

const BINDING_DIR = join('bin', 'napi-v6', 'linux', 'x64');

/** A failure whose message is the whole story (printed as one line). */
class PrepareError extends Error {}

export interface PrepareResult {
  ortNodePath: string;
  libraryPath: string[];
  found: Map<string, string>;
  missingOptional: string[];
  envFile: string;
}

/** Runs the step; throws PrepareError with a one-line message when something is missing. */
export function prepareGpu(options: {
  from?: string;
  cudaPaths?: string[];
  out: string;
}): PrepareResult {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new PrepareError(
      `the CUDA provider is built for linux-x64, not ${process.platform}-${process.arch}`,
    );
  }
  const folders = searchFolders(options.cudaPaths);
  const found = findLibraries(folders, CUDA13_LIBRARIES, !options.cudaPaths);
  const missing = CUDA13_LIBRARIES.filter((l) => !l.optional && !found.has(l.soname));
  if (missing.length) {
    throw new PrepareError(
      `no CUDA 13 libraries found (missing ${missing.map((l) => l.soname).join(', ')}; searched ` +
        `${options.cudaPaths ? options.cudaPaths.join(', ') : 'LD_LIBRARY_PATH, CUDA_HOME, /usr/local/cuda/lib64, the linker cache and Python nvidia-* packages'}): ` +
        'install the CUDA 13 runtime, cuBLAS and cuRAND (e.g. pip install nvidia-cuda-runtime nvidia-cublas nvidia-curand) or pass --cuda-path',
    );
  }
  const driver = driverLibraryPresent(folders);
  const out = resolve(options.out);
  const source = options.from ? resolve(options.from) : fetchPackages(join(out, 'cache'));
  const modules = join(out, 'node_modules');
  rmSync(modules, { recursive: true, force: true });
  const ortNode = installPackage(source, 'onnxruntime-node', modules);
  installPackage(source, 'onnxruntime-common', modules);
  placeProviders(source, join(ortNode, BINDING_DIR), join(out, 'cache'));

  // Libraries ORT opens by their unversioned name get a link in a folder of our own.
  const links = join(out, 'lib');
  rmSync(links, { recursive: true, force: true });
  mkdirSync(links, { recursive: true });
  for (const library of CUDA13_LIBRARIES) {
    const path = found.get(library.soname);
    if (path && library.unversionedLink) symlinkSync(path, join(links, library.unversionedLink));
  }
  const libraryPath = [links, ...libraryFolders(found)];
  const envFile = join(out, 'env');
  writeFileSync(
    envFile,
    [
      `# Written by gpu:prepare: source it before starting a CUDA worker.`,
      `export ORT_NODE_PATH='${ortNode}'`,
      `export LD_LIBRARY_PATH='${libraryPath.join(':')}'\${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}`,
      '',
    ].join('\n'),
  );
  const missingOptional = CUDA13_LIBRARIES.filter((l) => l.optional && !found.has(l.soname)).map(
    (l) => l.soname,
  );
  if (!driver) missingOptional.push('libcuda.so.1 (the NVIDIA driver)');
  return { ortNodePath: ortNode, libraryPath, found, missingOptional, envFile };
}

/** Fetches the three packages with `npm pack` (the route of a machine with network). */
function fetchPackages(cache: string): string {
  mkdirSync(cache, { recursive: true });
  const specs = [
    `onnxruntime-node@${GPU_RUNTIME.ortVersion}`,
    `onnxruntime-common@${GPU_RUNTIME.ortVersion}`,
    `${GPU_RUNTIME.providerPackage}@${GPU_RUNTIME.providerPackageVersion}`,
  ];
  const packed = spawnSync('npm', ['pack', '--silent', ...specs], { cwd: cache, encoding: 'utf8' });
  if (packed.status !== 0) {
    throw new PrepareError(
      `npm pack ${specs.join(' ')} failed (${(packed.stderr || '').trim().split('\n').pop()}): ` +
        'without network, pass --from with a folder holding those packages',
    );
  }
  return cache;
}

/** Unpacks (or copies) a package of the ORT version from `source` into `modules/<name>`. */
function installPackage(source: string, name: string, modules: string): string {
  const target = join(modules, name);
  mkdirSync(target, { recursive: true });
  const tarball = join(source, `${name}-${GPU_RUNTIME.ortVersion}.tgz`);
  const folder = join(source, name);
  if (existsSync(tarball)) {
    // Only this platform's binaries: the package carries every platform's.
    const filter = (path: string) =>
      !path.includes('/bin/napi-v6/') || path.includes(`/bin/napi-v6/linux/x64/`);
    tar.x({ file: tarball, cwd: target, strip: 1, sync: true, filter });
  } else if (existsSync(join(folder, 'package.json'))) {
    cpSync(folder, target, { recursive: true });
  } else {
    throw new PrepareError(
      `${source} holds neither ${name}-${GPU_RUNTIME.ortVersion}.tgz nor ${name}/`,
    );
  }
  const version = (
    JSON.parse(readFileSync(join(target, 'package.json'), 'utf8')) as { version: string }
  ).version;
  if (version !== GPU_RUNTIME.ortVersion) {
    throw new PrepareError(
      `${name} in ${source} is ${version}; the CUDA provider needs ${GPU_RUNTIME.ortVersion}`,
    );
  }
  return target;
}

/** Copies the provider libraries beside the binding, from loose files or the provider package. */
function placeProviders(source: string, bindingDir: string, scratch: string): void {
  if (!existsSync(join(bindingDir, 'libonnxruntime.so.1'))) {
    throw new PrepareError(
      `onnxruntime-node ${GPU_RUNTIME.ortVersion} lacks its linux-x64 core library`,
    );
  }
  let dir = source;
  if (!GPU_RUNTIME.providerLibraries.every((lib) => existsSync(join(dir, lib)))) {
    const tarball = readdirSync(source).find((f) =>
      f.startsWith(`${GPU_RUNTIME.providerPackage}-`),
    );
    if (!tarball) {
      throw new PrepareError(
        `${source} holds neither ${GPU_RUNTIME.providerLibraries.join(' and ')} nor the ` +
          `${GPU_RUNTIME.providerPackage} package`,
      );
    }
    dir = join(scratch, 'provider');
    mkdirSync(dir, { recursive: true });
    const files = GPU_RUNTIME.providerLibraries.map(
      (lib) => `package/${GPU_RUNTIME.providerDir}/${lib}`,
    );
    tar.x({ file: join(source, tarball), cwd: dir, strip: 4, sync: true }, files);
  }
  for (const lib of GPU_RUNTIME.providerLibraries) {
    const file = join(dir, lib);
    const versioned = lib === 'libonnxruntime_providers_cuda.so';
    if (versioned && !readFileSync(file).includes(Buffer.from(`\0${GPU_RUNTIME.ortVersion}\0`))) {
      throw new PrepareError(`${lib} in ${dir} is not from ONNX Runtime ${GPU_RUNTIME.ortVersion}`);
    }
    copyFileSync(file, join(bindingDir, lib));
  }
  if (dir !== source) rmSync(dir, { recursive: true, force: true });
}

function main(): void {
  const { values } = parseArgs({
    options: {
      from: { type: 'string' },
      'cuda-path': { type: 'string', multiple: true },
      out: { type: 'string', default: '.gpu' },
    },
  });
  const result = prepareGpu({
    from: values.from,
    cudaPaths: values['cuda-path'],
    out: values.out,
  });
  const where = (path: string) => relative(process.cwd(), path) || '.';
  const versions = CUDA13_LIBRARIES.filter((l) => result.found.has(l.soname)).map((l) => l.role);
  process.stdout.write(
    `gpu:prepare: onnxruntime-node ${GPU_RUNTIME.ortVersion} with its CUDA provider in ${where(result.ortNodePath)}; ` +
      `${versions.join(', ')} from ${result.libraryPath.slice(1).join(':')}` +
      (result.missingOptional.length ? ` (not found: ${result.missingOptional.join(', ')})` : '') +
      `; start CUDA workers with: . ${where(result.envFile)} && DEVICE=cuda npm run start:worker\n`,
  );
}

if (require.main === module) {
  try {
    main();
  } catch (error) {
    const message = error instanceof PrepareError ? error.message : String((error as Error).stack);
    process.stderr.write(`gpu:prepare: ${message}\n`);
    process.exit(1);
  }
}
