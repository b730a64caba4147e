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
export function runFixtureMaker(script: string, args: readonly string[]): Promise<Finished> {
  return finish(TOOLS_PYTHON, [join(TORCHSERVE_FIXTURES, script), ...args]);
}

/** Runs `modelfleet import <source> ...args` as a user does, from the built CLI (in `cwd`). */
export function runImport(source: string, args: readonly string[], cwd = ROOT): Promise<Finished> {
  const cli = join(ROOT, 'bin', 'modelfleet.js');
  return finish(process.execPath, [cli, 'import', source, ...args], 300_000, cwd);
}
