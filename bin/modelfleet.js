#!/usr/bin/env node
'use strict';
// The CLI is compiled TypeScript: before a build there is nothing to run, and saying so beats a
// MODULE_NOT_FOUND trace.
const { existsSync } = require('node:fs');
const { join, relative } = require('node:path');

const root = join(__dirname, '..');
const main = join(root, 'dist', 'apps', 'cli', 'src', 'main.js');
if (!existsSync(main)) {
  process.stderr.write(
    `modelfleet: not built yet (${relative(process.cwd(), main) || main} is missing): ` +
      `run "npm run build" in ${root} first ("npm start" builds too)\n`,
  );
  process.exit(1);
}
try {
  require(main);
} catch (error) {
  // A dependency missing (no `npm ci` yet): name it, without the trace.
  if (error && error.code === 'MODULE_NOT_FOUND' && !String(error.message).includes(main)) {
    const missing = /Cannot find module '([^']+)'/.exec(String(error.message));
    process.stderr.write(
      `modelfleet: a dependency is missing (${missing ? missing[1] : error.message}): ` +
        `run "npm ci" in ${root}\n`,
    );
    process.exit(1);
  }
  throw error;
}
