import assert from 'node:assert/strict';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { MANIFEST_FILE, loadModelPackage, openModel } from '@app/handler';
import { demoModelStore } from '../support/model-store';
import { demoPackageCopy } from '../support/packages';
import { ROOT } from '../support/paths';
import { eventually } from '../support/processes';
import { Stack } from '../support/stack';

const KEYWORD_HANDLER = join(ROOT, 'test', 'fixtures', 'keyword-handler');

/** A handler module that leaves `marker` behind the moment it is loaded: proof that it ran. */
function markingHandler(marker: string): string {
  const source = readFileSync(join(KEYWORD_HANDLER, 'handler.js'), 'utf8');
  return `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'ran');\n${source}`;
}

/** A package at `dir` whose handler is its own `handler.js`, which writes `marker` when loaded. */
function codePackage(dir: string, marker: string): string {
  cpSync(KEYWORD_HANDLER, dir, { recursive: true });
  writeFileSync(join(dir, 'handler.js'), markingHandler(marker));
  return dir;
}

/** Moves `file` of the package out of it, leaving a symlink to the outside copy in its place. */
function linkOut(dir: string, file: string): string {
  const outside = join(mkdtempSync(join(tmpdir(), 'modelfleet-outside-')), file);
  renameSync(join(dir, file), outside);
  symlinkSync(outside, join(dir, file));
  return outside;
}

describe('files a manifest names stay inside the package', () => {
  const cases: [string, (m: Record<string, unknown>) => void, string][] = [
    ['model_file', () => {}, 'model.onnx'],
    ['vocab_file', () => {}, 'vocab.txt'],
    ['config_file', (m) => delete m.labels, 'config.json'],
    ['extra_files', (m) => (m.extra_files = ['reference.json']), 'reference.json'],
    [
      'tokenizer_file',
      (m) => {
        m.tokenizer_file = 'vocab-copy.txt';
      },
      'vocab-copy.txt',
    ],
  ];
  for (const [field, edit, file] of cases) {
    it(`refuses a ${field} symlinked outside the package`, async () => {
      const dir = demoPackageCopy(edit);
      if (file === 'vocab-copy.txt') copyFileSync(join(dir, 'vocab.txt'), join(dir, file));
      linkOut(dir, file);
      await assert.rejects(loadModelPackage(dir), {
        name: 'ModelPackageError',
        message: new RegExp(`names ${file.replace('.', '\\.')}, which resolves outside`),
      });
    });
  }

  it('refuses a handler symlinked outside the package, without running it', async () => {
    const marker = join(mkdtempSync(join(tmpdir(), 'modelfleet-marker-')), 'ran');
    const dir = codePackage(mkdtempSync(join(tmpdir(), 'modelfleet-pkg-')), marker);
    linkOut(dir, 'handler.js');
    await assert.rejects(openModel(dir, { allowPackageCode: true }), {
      message: /names handler\.js, which resolves outside the package/,
    });
    assert.ok(!existsSync(marker), 'the handler ran');
  });

  it('refuses a handler path that climbs out of the package, without running it', async () => {
    const work = mkdtempSync(join(tmpdir(), 'modelfleet-escape-'));
    const marker = join(work, 'ran');
    writeFileSync(join(work, 'evil-handler.js'), markingHandler(marker));
    const dir = join(work, 'store', 'evil');
    mkdirSync(dir, { recursive: true });
    const manifest = {
      name: 'evil',
      version: '1',
      handler: '../../evil-handler.js',
      labels: ['a', 'b'],
    };
    writeFileSync(join(dir, MANIFEST_FILE), JSON.stringify(manifest));
    await assert.rejects(openModel(dir, { allowPackageCode: true }), {
      message: /handler: must be a path inside the package/,
    });
    assert.ok(!existsSync(marker), 'the handler ran');
  });

  it('refuses a package that carries code unless package code is allowed', async () => {
    const marker = join(mkdtempSync(join(tmpdir(), 'modelfleet-marker-')), 'ran');
    const dir = codePackage(mkdtempSync(join(tmpdir(), 'modelfleet-pkg-')), marker);
    await assert.rejects(openModel(dir), { message: /ALLOW_PACKAGE_CODE=true/ });
    assert.ok(!existsSync(marker), 'the handler ran');
  });

  // Controls: the same packages load when they keep to the rules.
  it('accepts symlinks that stay inside the package', async () => {
    const dir = demoPackageCopy((m) => delete m.labels);
    mkdirSync(join(dir, 'hf'));
    renameSync(join(dir, 'config.json'), join(dir, 'hf', 'config.json'));
    symlinkSync(join('hf', 'config.json'), join(dir, 'config.json'));
    const pkg = await loadModelPackage(dir);
    assert.deepEqual(pkg.labels, ['World', 'Sports', 'Business', 'Sci/Tech']);
  });

  it('runs a handler inside the package when package code is allowed', async () => {
    const marker = join(mkdtempSync(join(tmpdir(), 'modelfleet-marker-')), 'ran');
    const dir = codePackage(mkdtempSync(join(tmpdir(), 'modelfleet-pkg-')), marker);
    const { handler } = await openModel(dir, { allowPackageCode: true });
    assert.ok(existsSync(marker), 'the handler did not run');
    await handler.dispose();
  });
});

describe('package rules where the API registers and where the worker loads', () => {
  const markers = mkdtempSync(join(tmpdir(), 'modelfleet-markers-'));
  const store = demoModelStore([{ version: '1' }]);
  let stack: Stack | undefined;
  let redis: Redis;

  before(() => {
    codePackage(join(store, 'keywords'), join(markers, 'keywords'));
    const escaping = join(store, 'escaping');
    mkdirSync(escaping);
    writeFileSync(join(store, 'evil-handler.js'), markingHandler(join(markers, 'escaping')));
    writeFileSync(
      join(escaping, MANIFEST_FILE),
      JSON.stringify({
        name: 'escaping',
        version: '1',
        handler: '../evil-handler.js',
        labels: ['a', 'b'],
      }),
    );
    const linked = join(store, 'linked-config');
    cpSync(join(store, 'ag-news-bert-v1'), linked, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(linked, MANIFEST_FILE), 'utf8'));
    delete manifest.labels;
    writeFileSync(join(linked, MANIFEST_FILE), JSON.stringify({ ...manifest, name: 'linked' }));
    linkOut(linked, 'config.json');
  });

  after(async () => {
    redis?.disconnect();
    await stack?.stop();
  });

  const keysNaming = async (name: string) =>
    (await redis.keys('*')).filter((key) => key.includes(name));

  it('the API refuses, with a 400 problem, packages that break the rules, storing nothing', async () => {
    stack = await Stack.start({
      modelStore: store,
      env: { MODELS: 'ag-news-bert-v1' },
      workers: 0,
      waitHealthy: false,
    });
    redis = new Redis(stack.redis.url);
    for (const [url, why] of [
      ['keywords', /ALLOW_PACKAGE_CODE=true/],
      ['escaping', /must be a path inside the package/],
      ['linked-config', /config\.json, which resolves outside the package/],
    ] as const) {
      const response = await stack.manage('POST', `/models?url=${url}&initial_workers=1`);
      assert.equal(response.status, 400, `${url}: ${JSON.stringify(response.body)}`);
      assert.match(response.headers.get('content-type') ?? '', /application\/problem\+json/);
      assert.match(response.body.detail, why);
    }
    assert.deepEqual(await keysNaming('keywords'), []);
    assert.deepEqual(await keysNaming('escaping'), []);
    assert.deepEqual(await keysNaming('linked'), []);
    assert.deepEqual((await stack.manage('GET', '/models')).body.models.length, 1);
    assert.ok(!existsSync(join(markers, 'keywords')) && !existsSync(join(markers, 'escaping')));
  });

  // Control: the API of this very stack registers a package that keeps to the rules.
  it('the API registers a copy of the demo package', async () => {
    const copy = join(store, 'ag-news-bert-v2');
    cpSync(join(store, 'ag-news-bert-v1'), copy, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(copy, MANIFEST_FILE), 'utf8'));
    writeFileSync(join(copy, MANIFEST_FILE), JSON.stringify({ ...manifest, version: '2' }));
    const response = await stack!.manage('POST', '/models?url=ag-news-bert-v2');
    assert.equal(response.status, 201, JSON.stringify(response.body));
    await stack!.stop();
    stack = undefined;
  });

  it('a worker without ALLOW_PACKAGE_CODE refuses to run code that the API accepted', async () => {
    stack = await Stack.start({
      modelStore: store,
      env: { MODELS: 'ag-news-bert-v1,keywords', ALLOW_PACKAGE_CODE: 'true' },
      workers: 0,
      waitHealthy: false,
    });
    assert.ok(!existsSync(join(markers, 'keywords')), 'registering ran the handler');
    const refusing = stack.addWorker({ ALLOW_PACKAGE_CODE: 'false', WORKER_MODELS: 'keywords@1' });
    await eventually('the worker to refuse the package', () =>
      refusing.output.find((line) => line.includes('loading code from a package is off')),
    );
    assert.ok(!existsSync(join(markers, 'keywords')), 'the worker ran the handler');

    // Control: the same package, served by a worker that allows package code, runs.
    stack.addWorker({ WORKER_MODELS: 'keywords@1' });
    const answer = await eventually(
      'the custom handler to answer',
      async () => {
        const response = await stack!.request('POST', '/predictions/keywords', {
          data: ['big business news'],
        });
        return response.status === 200 ? response.body : undefined;
      },
      60_000,
      250,
    );
    assert.deepEqual(answer, [{ label: 1, label_name: 'business', custom: true }]);
    assert.ok(existsSync(join(markers, 'keywords')));
  });
});
