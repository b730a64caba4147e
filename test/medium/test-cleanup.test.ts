import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FIXTURES } from '../support/paths';
import { eventually } from '../support/processes';

/** Whether a process with this pid still runs (a zombie, dead but not yet reaped, does not). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = `/proc/${pid}/stat`;
  return !existsSync(stat) || !/^\d+ \(.*\) Z /.test(readFileSync(stat, 'utf8'));
}

describe('processes started by tests', () => {
  const dir = mkdtempSync(join(tmpdir(), 'modelfleet-cleanup-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('are all stopped when a test file fails without stopping them, grandchildren included', async () => {
    const pids = join(dir, 'pids');
    const env: NodeJS.ProcessEnv = { ...process.env, PIDS_FILE: pids };
    delete env.NODE_TEST_CONTEXT; // a test run of its own, not part of this one
    const run = spawnSync(process.execPath, ['--test', join(FIXTURES, 'leaky-test-file.js')], {
      env,
      encoding: 'utf8',
      timeout: 60_000,
      killSignal: 'SIGKILL',
    });
    assert.equal(run.error, undefined, 'the run ended by itself');
    assert.equal(run.status, 1, run.stdout);
    assert.match(run.stdout, /failed with its processes running/);
    const [child, grandchild] = JSON.parse(readFileSync(pids, 'utf8')) as number[];
    // SIGKILL is sent at the end of the file; the kernel may take a moment to carry it out.
    await eventually('the process the test started to be gone', () =>
      alive(child) ? undefined : true,
    );
    await eventually('the process that one started to be gone', () =>
      alive(grandchild) ? undefined : true,
    );
  });
});
