import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { docPages, readDocPage } from '../support/doc-pages';
import { treeStatus } from '../support/repo-tree';
import { DEMO_MODEL, ROOT } from '../support/paths';
import { eventually } from '../support/processes';
import {
  runCommands,
  shellBlocks,
  type ShellBlock,
  type ShellCommand,
} from '../support/shell-examples';
import { MANAGEMENT_TOKEN, Stack } from '../support/stack';
import { WebhookSink } from '../support/webhook-sink';

/**
 * Every command of the ```sh blocks of README.md and of the pages under docs/ runs, as written,
 * against one live stack, page after page (the README first, then docs/ by path) and block after
 * block: only the default addresses are rewritten to the stack's ports and the webhook receiver
 * to a local one.
 * The commands run from a folder laid out as the repository root is after `npm start`: `bin/`,
 * `dist/`, `node_modules/`, `apps/` and `test/` of the repository, `models/` (the store the API
 * serves, holding the demo model) and `.data/management-token`, with TMPDIR a folder of its own:
 * whatever they write lands there, and the repository's tree is left as it was found.
 */

/** Commands that cannot run in a test, each with the reason. Each must match one at least. */
const SKIPPED: { pattern: RegExp; reason: string }[] = [
  {
    pattern: /^npm ci && npm start\b/,
    reason:
      'installs the dependencies and starts a long-running server: the stack stands in for it',
  },
  { pattern: /^npm test\b/, reason: 'runs the whole test suite, this test included' },
  {
    pattern: /^docker compose\b/,
    reason: 'needs a Docker engine and starts long-running services',
  },
  { pattern: /^kubectl\b/, reason: 'needs a Kubernetes cluster' },
  {
    pattern: /^(npm run build && )?([A-Z][A-Z0-9_]*=\S+ )*(npm run bench\b|node dist\/bench\/)/,
    reason:
      'a benchmark: runs for minutes, most with the AG News data folder outside the repository',
  },
  { pattern: /^npm run soak\b/, reason: 'a benchmark that runs for an hour (minutes at least)' },
  {
    pattern: /^(mkdir -p \.gpu-carry\/stage|bash \.gpu-carry\/stage\/bench\/gpu\/run\.sh)\b/,
    reason: 'the GPU benchmark: needs the offline bundle of bench/gpu/pack.sh and a GPU host',
  },
  {
    pattern: /^tools\/build-demo-model\.sh\b/,
    reason: 'trains the demo model: needs the AG News training file and Python with torch',
  },
  { pattern: /^npm run gpu:prepare\b/, reason: 'needs the CUDA libraries of a GPU host' },
  {
    pattern: /^(python3 -m venv \.venv\b|\.venv\/bin\/python tools\/)/,
    reason:
      'installs the Python tools (torch: minutes) or runs one; test/medium/fused-graph.test.ts ' +
      'runs tools/optimize_graph.py',
  },
  {
    pattern: /^(node bin\/modelfleet\.js import|curl) .*\bbert_news_classification\b/,
    reason:
      'moves a TorchServe .mar the page does not ship, in the Python tools (torch: minutes to ' +
      'install); test/e2e/model-import.test.ts runs the same three steps on a .mar it builds',
  },
  {
    pattern: /^\. \.gpu\/env && DEVICE=cuda npm run start:worker\b/,
    reason: 'needs a GPU, and starts a long-running worker',
  },
  {
    pattern: /^curl -s -X POST localhost:8080\/v1\/predictions\/\$id\/cancel\b/,
    reason:
      'cancels the prediction while the supervisor of `npm start` holds the workers: the stack ' +
      'here has none, so its worker has answered and the cancel is the 409 of a finished one ' +
      '(test/e2e/predictions.test.ts cancels a queued prediction)',
  },
  {
    pattern: /^curl -s -X POST localhost:8080\/v1\/batches\/\$id\/cancel\b/,
    reason:
      'answers 200 while the batch runs and 409 once it has finished, as documented: which one ' +
      'depends on timing (test/e2e/batches.test.ts cancels a running batch)',
  },
];

/** A ```sh block and the page that holds it. */
interface PageBlock extends ShellBlock {
  page: string;
}

/** The repository's `git status` before anything ran (undefined outside a git checkout). */
const treeBefore = treeStatus(ROOT);

const blocks: PageBlock[] = docPages().flatMap((page) =>
  shellBlocks(readDocPage(page)).map((block) => ({ ...block, page })),
);

function skipReason(command: ShellCommand): string | undefined {
  return SKIPPED.find(({ pattern }) => pattern.test(command.text))?.reason;
}

/** The last characters of a command's output, for a failure message. */
function tail(text: string, size = 2000): string {
  return text.length > size ? `…${text.slice(-size)}` : text;
}

describe('the shell examples of the README and docs/, against a live stack', () => {
  let stack: Stack;
  let sink: WebhookSink;
  let work: string;
  /** Commands' environment: this one, without what would point the CLI elsewhere. */
  const env: Record<string, string> = {};

  before(async () => {
    sink = await WebhookSink.start();
    work = mkdtempSync(join(tmpdir(), 'modelfleet-readme-'));
    for (const entry of ['bin', 'dist', 'node_modules', 'apps', 'test'])
      symlinkSync(join(ROOT, entry), join(work, entry));
    mkdirSync(join(work, 'models'));
    cpSync(DEMO_MODEL, join(work, 'models', 'ag-news-bert'), { recursive: true });
    mkdirSync(join(work, '.data'));
    writeFileSync(join(work, '.data', 'management-token'), MANAGEMENT_TOKEN, { mode: 0o600 });
    stack = await Stack.start({ modelStore: join(work, 'models') });
    for (const [key, value] of Object.entries(process.env)) {
      if (value !== undefined && !/^(NODE_TEST_CONTEXT|MODELFLEET_|API_KEY$)/.test(key))
        env[key] = value;
    }
    env.TMPDIR = join(work, 'tmp');
    mkdirSync(env.TMPDIR);
  });
  after(async () => {
    await stack?.stop();
    await sink?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** The command with the default ports made the stack's, and the webhook receiver the sink. */
  function rewrite(command: string): string {
    const ports: Record<string, string> = {
      '8080': new URL(stack.apiUrl).port,
      '8081': new URL(stack.managementUrl).port,
      '8082': new URL(stack.metricsUrl).port,
      '8083': stack.grpcAddress.split(':').pop()!,
    };
    return command
      .replace(
        /\b(localhost|127\.0\.0\.1):(808[0-3])\b/g,
        (_, host: string, port: string) => `${host}:${ports[port]}`,
      )
      .replace(/https:\/\/example\.com\/hooks\/[\w/-]*/g, sink.url);
  }

  it('finds the examples, and skips only the listed commands', (t) => {
    const commands = blocks.flatMap((b) =>
      b.commands.map((command) => ({ ...command, page: b.page })),
    );
    assert.ok(blocks.length >= 10, `${blocks.length} sh blocks`);
    for (const page of ['README.md', 'docs/api.md'])
      assert.ok(
        blocks.some((b) => b.page === page),
        `no sh block in ${page}`,
      );
    for (const { pattern, reason } of SKIPPED) {
      const matched = commands.filter((c) => pattern.test(c.text));
      assert.ok(matched.length > 0, `the skip rule ${pattern} (${reason}) matches no command`);
      for (const command of matched)
        t.diagnostic(
          `skipped, ${command.page}:${command.line}: ${command.text.split('\n')[0]}: ${reason}`,
        );
    }
  });

  for (const block of blocks) {
    const runnable = block.commands.filter((c) => !skipReason(c));
    const title = `runs the example at ${block.page}:${block.line}`;
    if (runnable.length === 0) {
      it(title, { skip: [...new Set(block.commands.map(skipReason))].join('; ') });
      continue;
    }
    it(title, async (t) => {
      for (const command of block.commands) {
        const reason = skipReason(command);
        if (reason) t.diagnostic(`skipped, ${block.page}:${command.line}: ${reason}`);
      }
      const outcome = await runCommands(
        runnable.map((c) => rewrite(c.text)),
        { cwd: work, env, timeoutMs: 180_000 },
      );
      if (process.env.TEST_VERBOSE)
        process.stderr.write(`[${block.page}:${block.line}]\n${outcome.stdout}${outcome.stderr}\n`);
      const failed = outcome.failed === undefined ? undefined : runnable[outcome.failed];
      assert.ok(
        outcome.ok,
        `${failed ? `${block.page}:${failed.line} failed (exit ${outcome.exitCode}):\n$ ${failed.text}` : `the shell stopped (exit ${outcome.exitCode})`}\n` +
          `--- stdout\n${tail(outcome.stdout)}\n--- stderr\n${tail(outcome.stderr)}`,
      );
    });
  }

  it('delivers the webhook the example asks for, to the rewritten receiver', async () => {
    await eventually(
      'the example webhook to be delivered',
      () =>
        sink.received.some((r) => JSON.parse(r.body).type === 'prediction.completed')
          ? true
          : undefined,
      30_000,
      100,
    );
    const delivery = sink.received.find((r) => JSON.parse(r.body).type === 'prediction.completed')!;
    assert.match(String(delivery.headers['webhook-signature']), /^v1,/);
  });

  it('control: a failing command is reported, and stops its block', async () => {
    const unknownPath = await runCommands(
      [rewrite('curl -s localhost:8080/no-such-path'), 'echo after'],
      { cwd: work, env },
    );
    assert.equal(unknownPath.ok, false, 'a 404 fails the example');
    assert.equal(unknownPath.failed, 0);
    assert.equal(unknownPath.exitCode, 22, "curl's exit status for an HTTP error");
    assert.match(unknownPath.stdout, /404/, 'the problem+json answer is shown');
    assert.doesNotMatch(unknownPath.stdout, /after/);

    const failing = await runCommands(['true', 'ls no-such-file', 'echo after'], {
      cwd: work,
      env,
    });
    assert.deepEqual([failing.ok, failing.failed], [false, 1]);
    assert.doesNotMatch(failing.stdout, /after/);

    const passing = await runCommands([rewrite('curl -s localhost:8080/ping')], { cwd: work, env });
    assert.equal(passing.ok, true, passing.stderr);
  });

  it('control: the tree check sees a file written into a checkout', (t) => {
    const checkout = join(work, 'checkout');
    mkdirSync(checkout);
    if (spawnSync('git', ['init', '-q'], { cwd: checkout }).status !== 0) return t.skip('no git');
    assert.deepEqual(treeStatus(checkout), []);
    writeFileSync(join(checkout, 'probe.txt'), 'left behind\n');
    assert.deepEqual(treeStatus(checkout), ['?? probe.txt']);
  });

  it(
    "leaves the repository's tree as it found it (git status)",
    { skip: !treeBefore && 'not a git checkout' },
    () => {
      assert.deepEqual(treeStatus(ROOT), treeBefore, 'the examples changed the repository');
    },
  );
});
