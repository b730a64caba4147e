import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { SingleBar } from 'cli-progress';

/** Options of `modelfleet score`. */
export interface ScoreOptions {
  text: string;
  out: string;
  model: string;
  version?: string;
  id?: string;
  columns?: string;
  label?: string;
  labelBase?: string;
  passthrough?: string;
  chunkSize?: string;
  server: string;
  apiKey?: string;
  pollMs: string;
  progress: boolean;
}

export interface BatchView {
  id: string;
  status: 'running' | 'succeeded' | 'canceled';
  counts: { total: number; succeeded: number; failed: number; invalid: number };
  rows_per_second: number | null;
  eta_seconds: number | null;
  summary?: { accuracy?: number };
  urls: { get: string; results: string; errors: string };
}

/** What lets an interrupted run pick up its batch again instead of uploading anew. */
interface ResumeState {
  batchId: string;
  server: string;
  file: string;
}

/**
 * Sends a dataset through a running server as a batch, shows progress (rows, rows/s, ETA),
 * then writes the results (JSONL, or CSV when `--out` ends in .csv) and the rows that failed.
 * Interrupted, it leaves `<out>.batch.json` behind and resumes that batch when run again.
 */
export async function scoreCommand(file: string, options: ScoreOptions): Promise<BatchView> {
  const stateFile = `${options.out}.batch.json`;
  const client = new ApiClient(options.server, options.apiKey);
  let batch: BatchView | undefined;
  if (existsSync(stateFile)) {
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as ResumeState;
    if (state.file === resolve(file) && state.server === options.server) {
      batch = await client
        .json<BatchView>('GET', `/v1/batches/${state.batchId}`)
        .catch(() => undefined);
      if (batch) process.stderr.write(`resuming batch ${batch.id}\n`);
    }
  }
  if (!batch) {
    batch = await client.json<BatchView>('POST', `/v1/batches?${batchQuery(options)}`, {
      body: readFileSync(file),
      contentType: extname(file).toLowerCase() === '.csv' ? 'text/csv' : 'application/x-ndjson',
    });
    const state: ResumeState = { batchId: batch.id, server: options.server, file: resolve(file) };
    writeFileSync(stateFile, JSON.stringify(state));
  }
  // Ctrl-C stops following, not the batch: say how to pick it up again.
  const id = batch.id;
  const onInterrupt = () => {
    process.stderr.write(
      `\ninterrupted: batch ${id} goes on on the server; run the same command again to resume\n`,
    );
    process.exit(130);
  };
  process.once('SIGINT', onInterrupt);
  try {
    batch = await follow(client, batch, Number(options.pollMs), options.progress);
  } finally {
    process.off('SIGINT', onInterrupt);
  }
  const csv = extname(options.out).toLowerCase() === '.csv';
  writeFileSync(options.out, await client.text(`${batch.urls.results}${csv ? '?format=csv' : ''}`));
  const errors = await client.text(batch.urls.errors);
  if (errors) writeFileSync(`${options.out}.errors.jsonl`, errors);
  rmSync(stateFile, { force: true });
  return batch;
}

async function follow(
  client: ApiClient,
  start: BatchView,
  pollMs: number,
  progress: boolean,
): Promise<BatchView> {
  const bar = progress
    ? new SingleBar({
        format: 'rows {value}/{total} | {speed} | {eta} | {status}',
        etaBuffer: 20,
      })
    : undefined;
  // A resumed batch starts where it stands, with the rate the server measured.
  bar?.start(
    start.counts.total,
    start.counts.succeeded + start.counts.failed,
    progressFields(start),
  );
  let batch = start;
  while (batch.status === 'running') {
    await new Promise((r) => setTimeout(r, pollMs));
    batch = await client.json<BatchView>('GET', batch.urls.get);
    bar?.update(batch.counts.succeeded + batch.counts.failed, progressFields(batch));
  }
  bar?.stop();
  return batch;
}

/**
 * The progress line's speed, time left and status. Until the server has measured a rate, both
 * say so ("measuring"), rather than show a placeholder where a number goes.
 */
export function progressFields(
  batch: Pick<BatchView, 'rows_per_second' | 'eta_seconds' | 'status'>,
): { speed: string; eta: string; status: string } {
  const rate = batch.rows_per_second;
  const eta = batch.eta_seconds;
  return {
    speed: rate === null ? 'rows/s measuring' : `${rate} rows/s`,
    eta: eta === null ? 'ETA measuring' : `ETA ${duration(eta)}`,
    status: batch.status,
  };
}

/** Seconds as `42s`, `3m 05s` or `1h 02m`. */
function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function batchQuery(options: ScoreOptions): string {
  const query = new URLSearchParams({ model: options.model, text: options.text });
  const optional: Record<string, string | undefined> = {
    version: options.version,
    id: options.id,
    columns: options.columns,
    label: options.label,
    label_base: options.labelBase,
    passthrough: options.passthrough,
    chunk_size: options.chunkSize,
  };
  for (const [key, value] of Object.entries(optional)) if (value) query.set(key, value);
  return query.toString();
}

/** The few HTTP calls the CLI makes; a non-2xx answer becomes an error carrying its problem detail. */
class ApiClient {
  constructor(
    private readonly server: string,
    private readonly apiKey?: string,
  ) {}

  private async request(
    method: string,
    path: string,
    body?: { body: Buffer; contentType: string },
  ): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;
    if (body) headers['content-type'] = body.contentType;
    const response = await fetch(new URL(path, this.server), { method, headers, body: body?.body });
    if (!response.ok) {
      const text = await response.text();
      let detail = text;
      try {
        const problem = JSON.parse(text) as { title?: string; detail?: string };
        detail = [problem.title, problem.detail].filter(Boolean).join(': ');
      } catch {
        // not a problem document: keep the raw text
      }
      throw new Error(`${method} ${path} answered ${response.status}: ${detail}`);
    }
    return response;
  }

  async json<T>(
    method: string,
    path: string,
    body?: { body: Buffer; contentType: string },
  ): Promise<T> {
    return (await (await this.request(method, path, body)).json()) as T;
  }

  async text(path: string): Promise<string> {
    return (await this.request('GET', path)).text();
  }
}
