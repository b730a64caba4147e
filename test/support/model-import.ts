import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnGroup } from './children';
import { FIXTURES, ROOT } from './paths';
import { TOOLS_PYTHON } from './python-tools';

/** What a finished command left: its exit status and output. */
export interface Finished {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The importer's fixtures (a .mar, a checkpoint folder, hostile archives) and their makers. */
export const TORCHSERVE_FIXTURES = join(FIXTURES, 'torchserve');

/** The vocabulary the fixtures' .mar carries as `bert-base-uncased-vocab.txt`. */
export const BERT_VOCAB = join(ROOT, 'models', 'ag-news-bert', 'vocab.txt');

/** Runs a command without holding the event loop; stopped with the test file at the latest. */
export function finish(command: string, args: readonly string[], timeoutMs = 300_000, cwd = ROOT) {
  return new Promise<Finished>((resolve, reject) => {
    const child = spawnGroup(command, [...args], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PYTHONWARNINGS: 'ignore' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** Runs a fixture maker of test/fixtures/torchserve with the tools' Python. */
function runFixtureMaker(script: string, args: readonly string[]): Promise<Finished> {
  return finish(TOOLS_PYTHON, [join(TORCHSERVE_FIXTURES, script), ...args]);
}

/** Runs `modelfleet import <source> ...args` as a user does, from the built CLI (in `cwd`). */
export function runImport(source: string, args: readonly string[], cwd = ROOT): Promise<Finished> {
  const cli = join(ROOT, 'bin', 'modelfleet.js');
  return finish(process.execPath, [cli, 'import', source, ...args], 300_000, cwd);
}

/** A test file's own temporary folder, with the fixtures a maker wrote into its `fixtures`. */
export interface MadeFixtures {
  /** The temporary folder: the test's other files go here too. */
  readonly dir: string;
  /** What the maker wrote. */
  readonly fixtures: string;
  /** Deletes the folder and everything in it. */
  remove(): void;
}

/**
 * Makes a fresh temporary folder and runs `maker` (a script of test/fixtures/torchserve) with
 * BERT_VOCAB, `<dir>/fixtures` and `extra(dir)`. Fails with the maker's stderr, the folder removed.
 */
export async function madeFixtures(
  maker: string,
  extra: (dir: string) => string[] = () => [],
): Promise<MadeFixtures> {
  const dir = mkdtempSync(join(tmpdir(), `modelfleet-${maker.replace(/\.py$/, '')}-`));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  const fixtures = join(dir, 'fixtures');
  try {
    const made = await runFixtureMaker(maker, [BERT_VOCAB, fixtures, ...extra(dir)]);
    if (made.status !== 0) throw new Error(`${maker} exited ${made.status}: ${made.stderr}`);
  } catch (error) {
    remove();
    throw error;
  }
  return { dir, fixtures, remove };
}

/** make_models.py's models in every form, their reference.json and expected.json for `texts`. */
export function modelFixtures(texts: readonly string[]): Promise<MadeFixtures> {
  return madeFixtures('make_models.py', (dir) => {
    const file = join(dir, 'texts.json');
    writeFileSync(file, JSON.stringify(texts));
    return [file];
  });
}
