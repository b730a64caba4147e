import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import {
  DEFAULT_MAX_ARCHIVE_BYTES,
  DEFAULT_MAX_ARCHIVE_ENTRIES,
  extractArchive,
  isGzip,
  openModel,
  removeUnpacked,
  type Handler,
} from '@app/handler';

/** Options of `modelfleet import`. */
export interface ImportOptions {
  out?: string;
  name?: string;
  version?: string;
  config?: string;
  vocab?: string;
  tokenizer?: string;
  labels?: string;
  numAttentionHeads?: string;
  maxLength?: string;
  cased?: boolean;
  /** False with --no-truncation: the package refuses texts over max_length. */
  truncation?: boolean;
  python?: string;
  force?: boolean;
}

/** Repository root, from this file's place in dist (dist/apps/cli/src). */
const ROOT = resolve(__dirname, '..', '..', '..', '..');
/** The exporter: reads the source without running anything it carries, writes the package. */
const IMPORTER = join(ROOT, 'tools', 'import_model.py');
/** Largest difference allowed between the Node handler's logits and reference.json's. */
const PARITY_TOLERANCE = 1e-4;

/** The Python that runs the exporter: the repository's .venv when there is one. */
export function defaultPython(): string {
  const venv = join(ROOT, '.venv', 'bin', 'python');
  return existsSync(venv) ? venv : 'python3';
}

/**
 * Turns a TorchServe .mar, a PyTorch state_dict or a Hugging Face checkpoint folder into a
 * model package: the Python exporter writes it into a staging folder beside its destination,
 * the Node handler then loads it and must reproduce reference.json's logits, and only then is
 * it moved to `--out` (default `models/<name>`). Returns the package folder.
 */
export async function importCommand(source: string, options: ImportOptions): Promise<string> {
  if (!existsSync(source)) throw new Error(`${source} does not exist`);
  const parent = resolve(options.out ? dirname(options.out) : 'models');
  mkdirSync(parent, { recursive: true });
  const staging = mkdtempSync(join(parent, '.import-'));
  let unpacked: string | undefined;
  try {
    // The archiver's tgz form is unpacked by the package loader's own checked reader.
    if (statSync(source).isFile() && (await isGzip(source)))
      unpacked = await extractArchive(source);
    await runExporter(unpacked ?? source, staging, options);
    // The package loader checks the manifest (its name included) before anything is replaced.
    const { name, drift } = await referenceDrift(staging);
    process.stderr.write(
      `onnxruntime-node reproduces reference.json's logits within ${drift.toExponential(2)}\n`,
    );
    const target = options.out ? resolve(options.out) : packageFolder(parent, name);
    if (existsSync(target)) {
      if (!options.force) throw new Error(`${target} already exists; pass --force to replace it`);
      rmSync(target, { recursive: true, force: true });
    }
    renameSync(staging, target);
    return target;
  } finally {
    rmSync(staging, { recursive: true, force: true });
    if (unpacked) await removeUnpacked(unpacked);
  }
}

function exporterArgs(source: string, out: string, options: ImportOptions): string[] {
  const flags: [string, string | undefined][] = [
    ['--name', options.name],
    ['--version', options.version],
    ['--config', options.config],
    ['--vocab', options.vocab],
    ['--tokenizer', options.tokenizer],
    ['--labels', options.labels],
    ['--num-attention-heads', options.numAttentionHeads],
    ['--max-length', options.maxLength],
    ['--max-entries', String(DEFAULT_MAX_ARCHIVE_ENTRIES)],
    ['--max-bytes', String(DEFAULT_MAX_ARCHIVE_BYTES)],
  ];
  return [
    IMPORTER,
    resolve(source),
    out,
    ...flags.flatMap(([flag, value]) => (value === undefined ? [] : [flag, value])),
    ...(options.cased ? ['--cased'] : []),
    ...(options.truncation === false ? ['--no-truncation'] : []),
  ];
}

/** Runs the exporter, its report on stderr; fails with its last line when it refuses. */
function runExporter(source: string, out: string, options: ImportOptions): Promise<void> {
  const python = options.python ?? defaultPython();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(python, exporterArgs(source, out, options), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        PYTHONWARNINGS: 'ignore',
        TRANSFORMERS_OFFLINE: '1',
        HF_HUB_OFFLINE: '1',
      },
    });
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', (error) =>
      reject(
        new Error(
          `cannot run ${python} (the exporter needs tools/requirements.txt): ${error.message}`,
        ),
      ),
    );
    child.on('close', (code) => {
      if (code === 0) return resolvePromise();
      const lines = stderr.trim().split('\n');
      const refused = lines.find((line) => line.startsWith('refused: '));
      const missing = /^ModuleNotFoundError: (.*)$/m.exec(stderr);
      if (missing) {
        return reject(
          new Error(
            `${python} lacks what the exporter needs (${missing[1]}): \`python3 -m venv .venv && ` +
              '.venv/bin/pip install -r tools/requirements.txt` makes it, or pass --python',
          ),
        );
      }
      reject(
        new Error(refused ?? `the exporter failed (exit ${code}): ${lines.slice(-5).join('\n')}`),
      );
    });
  });
}

/**
 * The folder of `parent` a package of this name goes to: a name the source chose (a .mar's
 * modelName) is one folder inside `parent`, never a path that leaves it.
 */
export function packageFolder(parent: string, name: string): string {
  const target = resolve(parent, name);
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name) || dirname(target) !== resolve(parent)) {
    throw new Error(`the package name ${JSON.stringify(name)} is not a folder name; pass --name`);
  }
  return target;
}

/**
 * The package's name, as its loader read the manifest, and the largest difference between the
 * Node handler's logits and reference.json's, texts alone.
 */
async function referenceDrift(dir: string): Promise<{ name: string; drift: number }> {
  const reference = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as {
    texts: string[];
    ids: number[][];
    logits: number[][];
  };
  const { pkg, handler } = await openModel(dir, { device: 'cpu', warmup: false });
  try {
    return { name: pkg.manifest.name, drift: await driftOf(handler, reference) };
  } finally {
    await handler.dispose();
    await pkg.release();
  }
}

async function driftOf(
  handler: Handler<unknown>,
  reference: { texts: string[]; ids: number[][]; logits: number[][] },
): Promise<number> {
  const encoded = await handler.preprocess(reference.texts);
  let drift = 0;
  for (const [i, item] of encoded.entries()) {
    if (item.ids.join(' ') !== reference.ids[i].join(' ')) {
      throw new Error(
        `the Node tokenizer encodes reference text ${i} differently from the exporter`,
      );
    }
    const { data } = await handler.inference([item]);
    reference.logits[i].forEach((value, k) => (drift = Math.max(drift, Math.abs(data[k] - value))));
  }
  if (!(drift <= PARITY_TOLERANCE)) {
    throw new Error(`the Node handler's logits differ from reference.json's by ${drift}`);
  }
  return drift;
}
