import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { eventually } from '../support/processes';
import { ROOT } from '../support/paths';
import { MANAGEMENT_TOKEN } from '../support/stack';
import { ServeProcess, alive } from '../support/serve-process';

/**
 * Whatever ends `modelfleet serve`, it stops what it started, its redis-server included (which
 * runs outside its process group, and which nothing else would stop): the next serve on the
 * same data folder would otherwise refuse to start.
 */
describe('serve, however it ends', () => {
  const started: ServeProcess[] = [];
  after(async () => {
    for (const serve of started) await serve.stop();
  });

  async function running(env: Record<string, string> = {}): Promise<ServeProcess> {
    const serve = await ServeProcess.start({ env });
    started.push(serve);
    return serve;
  }

  it('stops everything when the reader of its output goes away (`npm start | tee`, then Ctrl-C)', async () => {
    const serve = await running();
    const pids = serve.allPids().filter(alive);
    assert.ok(pids.length >= 3, `API, worker and Redis run: ${pids.join(', ')}`);
    // The reading end of its stdout closes, as when `tee` or `head -1` exits; the next line it
    // writes (the access log line of this request, passed on from the API, or its own `ready`
    // line, while the request is in hand) meets a closed pipe. The answer does not matter here.
    serve.process.child.stdout!.destroy();
    await fetch(`${serve.apiUrl}/ping`).catch(() => undefined);
    const code = await serve.exited();
    // Its own lines go on on stderr: they say how the stop went, and name a child it killed.
    const stopped = await eventually(
      'serve to say that it stopped',
      () => serve.lines('stopped')[0],
    );
    const output = serve.process.output.join('\n');
    assert.match(
      String(serve.lines('stopping').find((l) => l.service === 'supervisor')?.cause),
      /stdout was closed/,
      output,
    );
    const killed = serve.lines('grace period over: killing it').map((l) => l.child);
    assert.deepEqual(killed, [], output);
    assert.equal(stopped.clean, true, output);
    assert.equal(code, 0, output);
    await eventually('every process of serve to stop', () =>
      pids.filter(alive).length === 0 ? true : undefined,
    );
  });

  it('stops everything on SIGHUP (the terminal closed)', async () => {
    const serve = await running();
    const pids = serve.allPids().filter(alive);
    assert.ok(pids.length >= 3, `API, worker and Redis run: ${pids.join(', ')}`);
    serve.process.child.kill('SIGHUP');
    assert.equal(await serve.exited(), 0, serve.process.output.join('\n'));
    assert.deepEqual(pids.filter(alive), [], 'no process of serve is left');
    const stopping = serve.lines('stopping');
    assert.equal(stopping[0]?.cause, 'SIGHUP');
  });

  it('says it is ready, with the ports the API bound, once the model is served (JSON when not on a terminal)', async () => {
    const serve = await running();
    const [listening] = serve.lines('API listening');
    const [ready] = await eventually('the ready line', () => {
      const lines = serve.lines('ready');
      return lines.length ? lines : undefined;
    });
    for (const key of ['port', 'managementPort', 'metricsPort', 'grpcPort'])
      assert.equal(ready[key], listening[key], key);
    assert.equal(
      ready.queueBoard,
      `http://localhost:${Number(listening.managementPort)}/admin/queues`,
    );
    await serve.stop();
  });
});

describe('serve for people (LOG_FORMAT=pretty, what a terminal gets)', () => {
  let serve: ServeProcess | undefined;
  after(() => serve?.stop());

  it('prints one line per event and the ready banner the README shows', async () => {
    serve = ServeProcess.launch({ env: { LOG_FORMAT: 'pretty' } });
    const output = serve.process.output;
    const banner = await eventually(
      'the ready banner',
      () => {
        if (!serve!.process.running) throw serve!.process.exitedError();
        return output.find((line) => line.startsWith('ready: '));
      },
      90_000,
    );
    const ports = banner.match(/:(\d+)/g)!.map((p) => p.slice(1));
    // The README's banner, with its default ports made those this serve bound.
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const shown = readme.match(/^# (ready: inference on .*)$/m);
    assert.ok(shown, 'the README quick start shows the ready banner');
    const defaults = ['8080', '8081', '8082', '8083'];
    const expected = shown[1]
      .replace('http://localhost:8081/', `http://localhost:${ports[1]}/`)
      .replace(/:(808[0-3])\b/g, (_, port: string) => `:${ports[defaults.indexOf(port)]}`);
    assert.equal(banner, expected);
    // The Bull Board it names is there (behind the management token).
    const board = banner.match(/Bull Board at (\S+)/)![1];
    const answer = await fetch(board, { headers: { authorization: `Bearer ${MANAGEMENT_TOKEN}` } });
    assert.equal(answer.status, 200);
    // Every other line is one event for people: time, level, process, message; no JSON line.
    const events = output.filter((line) => line !== banner);
    assert.ok(events.length > 5, events.join('\n'));
    for (const line of events)
      assert.match(line, /^\[\d\d:\d\d:\d\d\.\d{3}\] (INFO|WARN|ERROR|FATAL|DEBUG): \w+: /);
    assert.ok(events.some((line) => / api: API listening /.test(line)));
  });
});
