import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Stack } from '../support/stack';

const TEXT = 'NASA launches a new Mars probe to study the planet';

/** Runs curl as TorchServe's docs do; returns the status and parsed body. */
function curl(args: string[]): { status: number; body: unknown } {
  const run = spawnSync('curl', ['-s', '-w', '\n%{http_code}', ...args], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const lines = run.stdout.trimEnd().split('\n');
  const status = Number(lines.pop());
  const text = lines.join('\n');
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status, body };
}

describe("TorchServe's inference calls, as its tutorials make them with curl", () => {
  let stack: Stack;
  let dir: string;
  let url: string;
  let expected: { label_name: string };

  before(async () => {
    stack = await Stack.start();
    dir = mkdtempSync(join(tmpdir(), 'modelfleet-curl-'));
    writeFileSync(join(dir, 'request.json'), JSON.stringify({ data: [TEXT] }));
    writeFileSync(join(dir, 'text.txt'), `${TEXT}\n`);
    url = `${stack.apiUrl}/predictions/ag-news-bert`;
    // Control: the JSON form every client sends.
    const reference = await stack.request('POST', '/predictions/ag-news-bert', { data: TEXT });
    assert.equal(reference.status, 200);
    expected = reference.body;
  });

  after(async () => {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const cases: [string, () => string[], 'one' | 'list'][] = [
    [
      '-X POST -H "Accept: application/json" -T request.json (no type, Expect: 100-continue)',
      () => ['-X', 'POST', '-H', 'Accept: application/json', '-T', join(dir, 'request.json'), url],
      'list',
    ],
    ['-T text.txt (a PUT)', () => [url, '-T', join(dir, 'text.txt')], 'one'],
    ['-F data=@text.txt (multipart)', () => ['-F', `data=@${join(dir, 'text.txt')}`, url], 'one'],
    [
      '-d @request.json (form-urlencoded)',
      () => ['-d', `@${join(dir, 'request.json')}`, url],
      'list',
    ],
    ['--data-binary @text.txt', () => ['--data-binary', `@${join(dir, 'text.txt')}`, url], 'one'],
    [
      '-H "Content-Type: text/plain" -d (plain text)',
      () => ['-H', 'Content-Type: text/plain', '-d', TEXT, url],
      'one',
    ],
    [
      '-H "Content-Type: text" -d (a type that is not type/subtype, read as none)',
      () => ['-H', 'Content-Type: text', '-d', TEXT, url],
      'one',
    ],
  ];

  for (const [form, args, shape] of cases) {
    it(`classifies the text sent with curl ${form}`, () => {
      const { status, body } = curl(args());
      assert.equal(status, 200, JSON.stringify(body));
      const answer = (shape === 'list' ? (body as unknown[])[0] : body) as { label_name: string };
      assert.equal(answer.label_name, expected.label_name);
    });
  }

  it('answers 400 problem+json to a body that is neither JSON nor UTF-8', () => {
    writeFileSync(join(dir, 'bytes.bin'), Buffer.from([0xff, 0xfe, 0x00, 0x80]));
    const { status, body } = curl(['--data-binary', `@${join(dir, 'bytes.bin')}`, url]);
    assert.equal(status, 400);
    assert.equal((body as { status: number }).status, 400);
  });
});
