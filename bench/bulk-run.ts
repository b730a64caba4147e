import type { BulkMoments } from './gap-budget';

/** Texts as the NDJSON dataset `POST /v1/batches` reads (`id`, `text`). */
export function datasetOf(texts: readonly string[]): string {
  return texts.map((text, i) => JSON.stringify({ id: i, text })).join('\n');
}

/** Uploads `jsonl` as a batch for `model` and returns its id once the API accepted it (202). */
export async function startBatch(api: string, model: string, jsonl: string): Promise<string> {
  const response = await fetch(`${api}/v1/batches?model=${model}&text=text&id=id`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson' },
    body: jsonl,
  });
  if (response.status !== 202)
    throw new Error(`batch refused: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { id: string }).id;
}

interface BatchView {
  status: string;
  completed_at: string | null;
}

/** Polls batch `id` until it no longer runs, and returns its view. */
export async function waitBatch(api: string, id: string, pollMs = 50): Promise<BatchView> {
  for (;;) {
    const view = (await (await fetch(`${api}/v1/batches/${id}`)).json()) as BatchView;
    if (view.status !== 'running') return view;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/**
 * One bulk run, timed on the epoch clock the workers' pass records use: the upload, the 202, and
 * the batch's own completion time. A batch that does not succeed fails the run.
 */
export async function timedBulkRun(
  api: string,
  model: string,
  jsonl: string,
): Promise<BulkMoments & { id: string }> {
  const postedAt = Date.now();
  const id = await startBatch(api, model, jsonl);
  const acceptedAt = Date.now();
  const view = await waitBatch(api, id);
  if (view.status !== 'succeeded' || !view.completed_at)
    throw new Error(`batch ${id} ended ${view.status}, not succeeded`);
  return { id, postedAt, acceptedAt, completedAt: Date.parse(view.completed_at) };
}
