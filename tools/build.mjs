// Builds dist/ from the TypeScript sources: tsc, then tsc-alias (the @app/* paths made
// relative), then the .proto files the API loads at run time.
//
//   node tools/build.mjs          only when a source changed since the last build, and then
//                                 incrementally (tsc re-checks what changed): `npm start`
//   node tools/build.mjs --clean  from scratch, dist/ removed first: `npm run build`, `npm test`
//                                 (no output of a deleted source is left to run)
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const ROOT = join(import.meta.dirname, '..');
const DIST = join(ROOT, 'dist');
/** Written last by a build that succeeded: what the sources are compared with. */
const STAMP = join(DIST, '.build-stamp');
/** What a build reads: the folders of sources, and the compiler's settings. */
const SOURCES = ['apps', 'libs', 'test', 'bench', 'tools', 'tsconfig.json'];

/** The newest modification time under `path` (a folder's own counts: a file was deleted). */
function newest(path) {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  let latest = stat.mtimeMs;
  for (const entry of readdirSync(path)) {
    if (entry === 'node_modules' || entry === 'build' || entry === 'results') continue;
    latest = Math.max(latest, newest(join(path, entry)));
  }
  return latest;
}

function run(script, args) {
  const result = spawnSync(process.execPath, [require.resolve(script), ...args], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

const clean = process.argv.includes('--clean');
if (clean) rmSync(DIST, { recursive: true, force: true });
else if (existsSync(STAMP)) {
  const built = statSync(STAMP).mtimeMs;
  if (SOURCES.every((source) => newest(join(ROOT, source)) < built)) {
    process.stderr.write('build: dist/ is up to date (no source changed since the last build)\n');
    process.exit(0);
  }
}
rmSync(STAMP, { force: true });
// Incremental (tsconfig.json): tsc keeps its state in dist/.tsbuildinfo.
run('typescript/bin/tsc', ['-p', 'tsconfig.json']);
run('tsc-alias/dist/bin/index.js', ['-p', 'tsconfig.json']);
cpSync(join(ROOT, 'apps/api/src'), join(DIST, 'apps/api/src'), {
  recursive: true,
  filter: (file) => statSync(file).isDirectory() || file.endsWith('.proto'),
});
writeFileSync(STAMP, `${new Date().toISOString()}\n`);
