/**
 * Preloaded (`node --require`) by pack.sh while the benchmark runs on the CPU: each process and
 * thread writes the files it loaded, so the bundle carries the node_modules the run uses and
 * nothing else.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';

const folder = process.env.LOADED_MODULES_DIR;

function dump(): void {
  try {
    writeFileSync(
      join(folder!, `${process.pid}-${threadId}.txt`),
      Object.keys(require.cache).join('\n'),
    );
  } catch {
    // the folder is gone: the run that wanted the list is over
  }
}

if (folder) {
  process.on('exit', dump);
  setInterval(dump, 1000).unref();
}
