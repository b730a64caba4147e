import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT } from './paths';

/**
 * The project's documentation: README.md, then every Markdown page under docs/ (sub-folders
 * included), by path. Paths are relative to the repository root, with `/` separators.
 */
export function docPages(root = ROOT): string[] {
  const pages: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.md')) pages.push(relative(root, path).split('\\').join('/'));
    }
  };
  walk(join(root, 'docs'));
  return ['README.md', ...pages.sort()];
}

/** The text of a documentation page, by its path from the repository root. */
export function readDocPage(page: string, root = ROOT): string {
  return readFileSync(join(root, page), 'utf8');
}

/** The text with every fenced code block blanked (its lines kept, so line numbers hold). */
function withoutCodeBlocks(markdown: string): string {
  let fence: string | undefined;
  return markdown
    .split('\n')
    .map((line) => {
      const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
      if (fence === undefined && marker) {
        fence = marker;
        return '';
      }
      if (fence !== undefined) {
        if (marker && marker[0] === fence[0] && marker.length >= fence.length) fence = undefined;
        return '';
      }
      return line;
    })
    .join('\n');
}

/** A link of a Markdown page: where it points and the 1-based line it starts on. */
export interface MarkdownLink {
  target: string;
  line: number;
}

/**
 * The inline links and images of a Markdown text (`[text](target)`, `![alt](target)`), outside
 * code blocks and code spans; link text may run over several lines.
 */
export function markdownLinks(markdown: string): MarkdownLink[] {
  const text = withoutCodeBlocks(markdown).replace(/`[^`\n]*`/g, (span) => ' '.repeat(span.length));
  const links: MarkdownLink[] = [];
  for (const match of text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    const line = text.slice(0, match.index).split('\n').length;
    links.push({ target: match[1], line });
  }
  return links;
}

/** GitHub's anchor for a heading's text: lowercased, punctuation dropped, spaces as hyphens. */
export function headingSlug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/`/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors GitHub gives the headings of a Markdown text (a repeated one gets `-1`, `-2`...). */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of withoutCodeBlocks(markdown).split('\n')) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const slug = headingSlug(heading);
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}
