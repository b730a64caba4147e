import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MANAGEMENT_TOKEN, Stack } from '../support/stack';

/** What a person opens in a browser: Bull Board behind the management token, the API documents. */
describe('browser pages', () => {
  let stack: Stack;

  before(async () => {
    stack = await Stack.start();
  });
  after(() => stack?.stop());

  it('puts Bull Board behind the management token and lists every queue', async () => {
    const denied = await fetch(`${stack.managementUrl}/admin/queues/api/queues`);
    assert.equal(denied.status, 401);
    const listed = await fetch(`${stack.managementUrl}/admin/queues/api/queues`, {
      headers: { authorization: `Bearer ${MANAGEMENT_TOKEN}` },
    });
    assert.equal(listed.status, 200);
    const names = ((await listed.json()) as { queues: { name: string }[] }).queues
      .map((q) => q.name)
      .sort();
    assert.deepEqual(names, [
      'batch-{ag-news-bert@1}',
      'bulk-{ag-news-bert@1}',
      'predict-{ag-news-bert@1}',
      '{batches}',
      '{shadow-comparisons}',
      '{webhooks}',
    ]);
    // What a browser does: the page with Basic auth, then the scripts it names, under its base.
    const basic = {
      authorization: `Basic ${Buffer.from(`admin:${MANAGEMENT_TOKEN}`).toString('base64')}`,
    };
    const page = await fetch(`${stack.managementUrl}/admin/queues`, { headers: basic });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    const html = await page.text();
    const base = /<base href="([^"]+)"/.exec(html)?.[1];
    assert.equal(base, '/admin/queues/');
    const scripts = [...html.matchAll(/<script[^>]* src="([^"]+)"/g)].map((m) => m[1]);
    assert.ok(scripts.length > 0, html);
    for (const script of scripts) {
      const assetUrl: URL = new URL(script, `${stack.managementUrl}${base}`);
      const asset = await fetch(assetUrl, { headers: basic });
      assert.equal(asset.status, 200, assetUrl.pathname);
      assert.match(asset.headers.get('content-type') ?? '', /javascript/, assetUrl.pathname);
      await asset.arrayBuffer();
      assert.equal((await fetch(assetUrl)).status, 401, `${assetUrl.pathname} without the token`);
    }
    // A browser with no credentials, or wrong ones, is asked to log in: a Basic challenge.
    const wrongBasic = `Basic ${Buffer.from('admin:not-the-token').toString('base64')}`;
    for (const headers of [{}, { authorization: wrongBasic }] as Record<string, string>[]) {
      const refused = await fetch(`${stack.managementUrl}/admin/queues`, { headers });
      assert.equal(refused.status, 401);
      assert.match(refused.headers.get('www-authenticate') ?? '', /^Basic realm="[^"]+"$/);
      const { detail } = (await refused.json()) as { detail: string };
      assert.match(detail, /MANAGEMENT_TOKEN/, 'the 401 says where the token is');
    }
    // Logged in, the browser re-sends the credentials with the page's own fetch() calls (same
    // origin, under the page's path): its translations and the queues it lists.
    const locale = await fetch(
      new URL('static/locales/en-US/messages.json', `${stack.managementUrl}${base}`),
      { headers: basic },
    );
    assert.equal(locale.status, 200);
    assert.equal(typeof ((await locale.json()) as { MENU?: unknown }).MENU, 'object');
    const queues = await fetch(new URL('api/queues', `${stack.managementUrl}${base}`), {
      headers: basic,
    });
    assert.equal(queues.status, 200);
    assert.ok(((await queues.json()) as { queues: unknown[] }).queues.length > 0);
  });

  it('serves OpenAPI documents that list every route of both APIs', async () => {
    const inference = (await (await fetch(`${stack.apiUrl}/docs-json`)).json()) as {
      paths: Record<string, object>;
    };
    // In reading order: by tag (health, sync, async, batches, the Open Inference Protocol),
    // then a path before those under it.
    assert.deepEqual(Object.keys(inference.paths), [
      '/healthz',
      '/ping',
      '/readyz',
      '/predictions/{model}',
      '/predictions/{model}/{version}',
      '/v1/predictions',
      '/v1/predictions/{id}',
      '/v1/predictions/{id}/cancel',
      '/v1/batches',
      '/v1/batches/{id}',
      '/v1/batches/{id}/cancel',
      '/v1/batches/{id}/errors',
      '/v1/batches/{id}/results',
      '/v2',
      '/v2/health/live',
      '/v2/health/ready',
      '/v2/models/{model}',
      '/v2/models/{model}/infer',
      '/v2/models/{model}/ready',
      '/v2/models/{model}/versions/{version}',
      '/v2/models/{model}/versions/{version}/infer',
      '/v2/models/{model}/versions/{version}/ready',
    ]);
    // The management port's documents need its token, as every route of it does.
    const management = (await (
      await fetch(`${stack.managementUrl}/docs-json`, {
        headers: { authorization: `Bearer ${MANAGEMENT_TOKEN}` },
      })
    ).json()) as { paths: Record<string, object> };
    assert.deepEqual(Object.keys(management.paths), [
      '/models',
      '/models/{name}',
      '/models/{name}/all',
      '/models/{name}/shadow',
      '/models/{name}/traffic',
      '/models/{name}/{version}',
      '/models/{name}/{version}/set-default',
    ]);
    assert.equal((await fetch(`${stack.apiUrl}/docs`)).status, 200);
  });
});
