import { killGroup, spawnGroup } from './children';

/** A command of a page's shell example: its text (continuation lines included) and line. */
export interface ShellCommand {
  /** 1-based line of the page where the command starts. */
  line: number;
  text: string;
}

/** A fenced ```sh block of a Markdown file, cut into commands. */
export interface ShellBlock {
  /** 1-based line of the opening fence. */
  line: number;
  commands: ShellCommand[];
}

/** Every ```sh block of a Markdown text, in order. */
export function shellBlocks(markdown: string): ShellBlock[] {
  const lines = markdown.split('\n');
  const blocks: ShellBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '```sh') continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i].trim() !== '```'; i++) body.push(lines[i]);
    blocks.push({ line: start + 1, commands: splitCommands(body, start + 2) });
  }
  return blocks;
}

/**
 * Cuts shell text into commands: a command goes on past a line ending in a backslash, a quote
 * left open, or a here-document until its delimiter line. Comment-only lines between commands
 * are dropped (a comment at the end of a command stays: the shell ignores it).
 */
export function splitCommands(lines: string[], firstLine = 1): ShellCommand[] {
  const commands: ShellCommand[] = [];
  let current: string[] = [];
  let startLine = 0;
  let quote: "'" | '"' | undefined;
  let hereDoc: string | undefined;
  lines.forEach((line, index) => {
    if (current.length === 0) {
      if (line.trim() === '' || line.trim().startsWith('#')) return;
      startLine = firstLine + index;
    }
    current.push(line);
    if (hereDoc !== undefined) {
      if (line === hereDoc) hereDoc = undefined;
    } else {
      const scan = scanLine(line, quote);
      quote = scan.quote;
      hereDoc = scan.hereDoc;
      if (quote || scan.continued || hereDoc !== undefined) return;
    }
    if (hereDoc !== undefined) return;
    commands.push({ line: startLine, text: current.join('\n') });
    current = [];
  });
  if (current.length) throw new Error(`unterminated command at line ${startLine}`);
  return commands;
}

/** Quote state at the end of a line, whether it continues, and a here-document it opens. */
function scanLine(
  line: string,
  open: "'" | '"' | undefined,
): { quote: "'" | '"' | undefined; continued: boolean; hereDoc?: string } {
  let quote = open;
  let hereDoc: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote === "'") {
      if (c === "'") quote = undefined;
    } else if (c === '\\') {
      if (i === line.length - 1) return { quote, continued: quote === undefined, hereDoc };
      i++;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
    } else if (c === "'" || c === '"') {
      quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]))) {
      break; // a comment to the end of the line
    } else if (c === '<' && line[i + 1] === '<' && line[i + 2] !== '<') {
      const match = /^<<-?\s*(['"]?)(\w+)\1/.exec(line.slice(i));
      if (match) {
        hereDoc = match[2];
        i += match[0].length - 1;
      }
    }
  }
  return { quote, continued: false, hereDoc };
}

export interface ScriptOutcome {
  /** Whether every command succeeded. */
  ok: boolean;
  /** Index of the first command that failed (undefined when the shell itself stopped). */
  failed?: number;
  /** Its exit status (curl's 22 for an HTTP status of 400 or more). */
  exitCode?: number;
  stdout: string;
  stderr: string;
}

const FAILED = '__readme_example_failed__';

/**
 * Runs commands one after the other in one `bash` (so that a variable set by one reaches the
 * next), stopping at the first that fails. `curl` is wrapped so that an HTTP status of 400 or
 * more fails the command (`--fail-with-body`, which still prints the problem+json answer) and
 * its errors are shown (`-S`), and pipelines fail when any of their commands does.
 */
export function runCommands(
  commands: readonly string[],
  options: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<ScriptOutcome> {
  const script = [
    'set -o pipefail',
    'curl() { command curl -S --fail-with-body "$@"; }',
    ...commands.flatMap((command, index) => [
      command,
      `__rc=$?; if [ "$__rc" -ne 0 ]; then echo "${FAILED} ${index} $__rc" >&2; exit 1; fi`,
    ]),
    'exit 0',
  ].join('\n');
  return new Promise((resolve, reject) => {
    const child = spawnGroup('bash', ['-c', script], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      stderr += `\n(stopped after ${options.timeoutMs} ms)`;
      killGroup(child);
    }, options.timeoutMs ?? 120_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      // A child of the script (a backgrounded one) must not outlive it.
      killGroup(child);
      const marker = new RegExp(`^${FAILED} (\\d+) (\\d+)$`, 'm').exec(stderr);
      if (code === 0) resolve({ ok: true, stdout, stderr });
      else
        resolve({
          ok: false,
          failed: marker ? Number(marker[1]) : undefined,
          exitCode: marker ? Number(marker[2]) : (code ?? undefined),
          stdout,
          stderr: stderr.replace(new RegExp(`^${FAILED}.*\\n?`, 'm'), ''),
        });
    });
  });
}
