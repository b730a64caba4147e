import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import {
  docPages,
  headingAnchors,
  headingSlug,
  markdownLinks,
  readDocPage,
} from '../support/doc-pages';
import { ROOT } from '../support/paths';

/** The README is the front door; topic pages live under docs/. */
const README_MAX_LINES = 400;

/**
 * What is wrong with each relative link of a page: a file that does not exist, a path that
 * leaves the repository, or an anchor that no heading of the Markdown page it names carries.
 * `read` gives a page's text by its path from the root (undefined when there is none).
 */
function brokenLinks(
  page: string,
  markdown: string,
  read: (path: string) => string | undefined,
): string[] {
  const problems: string[] = [];
  for (const { target, line } of markdownLinks(markdown)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: and the like
    const [path, anchor] = target.split('#', 2) as [string, string | undefined];
    const file = path === '' ? page : relative(ROOT, resolve(ROOT, dirname(page), path));
    const where = `${page}:${line}: ${target}`;
    if (file.startsWith('..')) {
      problems.push(`${where} points outside the repository`);
      continue;
    }
    const text = path === '' ? markdown : read(file.split('\\').join('/'));
    if (text === undefined) {
      problems.push(`${where}: no such file`);
      continue;
    }
    if (anchor && file.endsWith('.md') && !headingAnchors(text).has(decodeURIComponent(anchor)))
      problems.push(`${where}: no heading "#${anchor}" in ${file}`);
  }
  return problems;
}

/** A page of the repository by its path from the root: Markdown read, anything else "". */
function readRepoFile(path: string): string | undefined {
  const full = join(ROOT, path);
  if (!existsSync(full)) return undefined;
  return path.endsWith('.md') ? readDocPage(path) : '';
}

describe('the documentation pages', () => {
  const pages = docPages();

  it(`keep the README a front door of at most ${README_MAX_LINES} lines`, () => {
    const lines = readDocPage('README.md').trimEnd().split('\n').length;
    assert.ok(lines <= README_MAX_LINES, `README.md has ${lines} lines`);
  });

  it('include the topic pages under docs/', () => {
    for (const page of ['docs/api.md', 'docs/operations.md', 'docs/settings.md'])
      assert.ok(pages.includes(page), `${page} in ${pages.join(', ')}`);
  });

  it('link only to files and headings that exist, inside the repository', () => {
    const problems = pages.flatMap((page) => brokenLinks(page, readDocPage(page), readRepoFile));
    assert.deepEqual(problems, []);
  });

  it('control: a missing file, a missing heading and a path out of the repository are caught', () => {
    const files: Record<string, string> = { 'docs/a.md': '# Page A\n\n## Known part\n' };
    const read = (path: string) => files[path];
    const page = [
      '[fine](a.md#known-part) and [here](#page-b)',
      '# Page B',
      '[gone](c.md), [no part](a.md#unknown-part)',
      '[out](../../elsewhere/notes.md)',
      '```sh',
      'echo "[in a code block](nowhere.md)"',
      '```',
      'and `[in a code span](nowhere.md)`',
    ].join('\n');
    assert.deepEqual(brokenLinks('docs/b.md', page, read), [
      'docs/b.md:3: c.md: no such file',
      'docs/b.md:3: a.md#unknown-part: no heading "#unknown-part" in docs/a.md',
      'docs/b.md:4: ../../elsewhere/notes.md points outside the repository',
    ]);
  });

  it('slugs headings as GitHub does', () => {
    assert.equal(
      headingSlug('Open Inference Protocol (KServe v2): REST and gRPC'),
      'open-inference-protocol-kserve-v2-rest-and-grpc',
    );
    assert.equal(headingSlug('The GPU benchmark (`bench/gpu/`)'), 'the-gpu-benchmark-benchgpu');
    assert.equal(headingSlug('Before and after `BULK_PASS_MS`'), 'before-and-after-bulk_pass_ms');
    assert.deepEqual(
      [...headingAnchors('# Usage\n## Usage\n## Usage\n')],
      ['usage', 'usage-1', 'usage-2'],
    );
  });
});
