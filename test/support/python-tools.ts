import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './paths';

/** The Python of the repository's virtual environment, where tools/requirements.txt is installed. */
export const TOOLS_PYTHON = join(ROOT, '.venv', 'bin', 'python');

const INSTALL = 'python3 -m venv .venv && .venv/bin/pip install -r tools/requirements.txt';

/**
 * Why the tests that run the Python tools are skipped, or false when they run. The environment
 * is optional for a developer's `npm test`; CI (`.ci/run` installs it and sets CI) always runs
 * them, and fails there when it is missing.
 */
export function pythonToolsSkipped(modules: readonly string[]): string | false {
  if (process.env.CI) return false;
  const missing = pythonToolsMissing(modules);
  return missing ? `${missing}; \`${INSTALL}\` makes it (.ci/run does)` : false;
}

/** What keeps the tools' Python from importing `modules`, or undefined when nothing does. */
export function pythonToolsMissing(modules: readonly string[]): string | undefined {
  if (!existsSync(TOOLS_PYTHON)) return `no virtual environment at .venv`;
  const run = spawnSync(TOOLS_PYTHON, ['-c', `import ${modules.join(', ')}`], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (run.status === 0) return undefined;
  const reason = run.error?.message ?? run.stderr.trim().split('\n').at(-1);
  return `.venv cannot import ${modules.join(', ')} (${reason})`;
}

/** Runs a script of tools/ with the tools' Python; fails, saying how to install it, when it is missing. */
export function runPythonTool(script: string, args: readonly string[], timeoutMs = 300_000) {
  if (!existsSync(TOOLS_PYTHON))
    throw new Error(`no virtual environment at .venv: run \`${INSTALL}\``);
  const run = spawnSync(TOOLS_PYTHON, [join(ROOT, 'tools', script), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  if (run.error) throw run.error;
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}
