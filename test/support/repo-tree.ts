import { spawnSync } from 'node:child_process';

/**
 * What `git status` says of the checkout at `dir`: each changed, untracked or ignored path (an
 * ignored folder as one line), sorted; undefined where `dir` is no git checkout or git is missing.
 */
export function treeStatus(dir: string): string[] | undefined {
  const status = spawnSync(
    'git',
    ['status', '--porcelain', '--untracked-files=all', '--ignored=matching'],
    { cwd: dir, encoding: 'utf8' },
  );
  if (status.error || status.status !== 0) return undefined;
  return status.stdout
    .split('\n')
    .filter((line) => line !== '')
    .sort();
}
