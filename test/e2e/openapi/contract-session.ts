import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoModelStore } from '../../support/model-store';
import { OpenApiContract, type Answer, type OpenApiDocument } from '../../support/openapi-contract';
import { MANAGEMENT_TOKEN, Stack } from '../../support/stack';

export const API_KEY = 'contract-test-api-key';
export const MODEL = 'ag-news-bert';
/**
 * How long a call may go unanswered: far over any answer the contract provokes (a sync call waits
 * SYNC_TIMEOUT_MS at most), far under the client's own 300 s, so that a hang fails with its name.
 */
const ANSWER_TIMEOUT_MS = 60_000;
export const CSV =
  'title,description\nYankees win,Baseball in the Bronx\nOil prices surge,Markets fall\n';

/** What a call gives back: the answer as it came, and its body parsed when it is JSON. */
// Bodies are read field by field in assertions, as in the other end-to-end tests.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type CheckedAnswer = Answer & { json: any };

/** Options of an inference call: a JSON body, or a body of a type; the API key unless `key: false`. */
export interface InferenceCallOptions {
  json?: unknown;
  type?: string;
  body?: string | Buffer | FormData;
  headers?: Record<string, string>;
  key?: boolean;
}

/**
 * The stack the OpenAPI contract tests call, and the documents both of its ports serve. Version
 * 1 has a worker; version 2, registered through the API, has none, so its jobs stay queued (to
 * cancel them, and to fill its queue up to MAX_QUEUED_JOBS). Every call is checked against its
 * port's document, which records the statuses it saw.
 */
export class ContractSession {
  stack!: Stack;
  inference!: OpenApiContract;
  management!: OpenApiContract;
  /** Set by the test that stops Redis: the stack can then not stop gracefully. */
  redisStopped = false;
  private store?: string;
  private dataDir?: string;

  async start(): Promise<void> {
    this.store = demoModelStore([{ version: '1' }, { version: '2' }]);
    this.dataDir = mkdtempSync(join(tmpdir(), 'modelfleet-data-'));
    writeFileSync(join(this.dataDir, 'news.csv'), CSV);
    this.stack = await Stack.start({
      modelStore: this.store,
      env: {
        MODELS: 'ag-news-bert-v1',
        API_KEY,
        DATA_DIR: this.dataDir,
        MAX_TEXTS_PER_REQUEST: '8',
        MAX_QUEUED_JOBS: '3',
        BATCH_MAX_BYTES: '4096',
      },
      workerEnv: { WORKER_MODELS: `${MODEL}@1` },
    });
    const fetchDocument = async (url: string, headers: Record<string, string> = {}) => {
      const response = await fetch(`${url}/docs-json`, { headers });
      assert.equal(response.status, 200);
      return (await response.json()) as OpenApiDocument;
    };
    this.inference = new OpenApiContract(await fetchDocument(this.stack.apiUrl));
    this.management = new OpenApiContract(
      await fetchDocument(this.stack.managementUrl, {
        authorization: `Bearer ${MANAGEMENT_TOKEN}`,
      }),
    );
  }

  async stop(): Promise<void> {
    // Once Redis is gone (the last tests), nothing can shut down gracefully: no need to wait.
    if (this.redisStopped && this.stack)
      await Promise.all([this.stack.api, ...this.stack.workers].map((p) => p.stop('SIGKILL')));
    await this.stack?.stop();
    if (this.store) rmSync(this.store, { recursive: true, force: true });
    if (this.dataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }

  /**
   * Sends a request and returns the answer as it came. A request that gets no answer within
   * ANSWER_TIMEOUT_MS, or none at all, fails with an error that names it (`name`, or the method
   * and path), rather than with a bare `fetch failed` once the client gives up minutes later.
   */
  send = async (
    base: string,
    method: string,
    path: string,
    options: {
      headers?: Record<string, string>;
      body?: string | Buffer | FormData;
      name?: string;
    } = {},
  ): Promise<Answer> => {
    const call = options.name ? `${options.name} (${method} ${path})` : `${method} ${path}`;
    try {
      const response = await fetch(`${base}${path}`, {
        method,
        headers: options.headers,
        body: options.body,
        signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS),
      });
      return { status: response.status, headers: response.headers, text: await response.text() };
    } catch (error) {
      throw new Error(`${call} got no answer: ${(error as Error).message}`, { cause: error });
    }
  };

  /**
   * Calls an inference operation (with the API key unless told otherwise), checks the answer
   * against the document, and returns it with its JSON body.
   */
  callInference = async (
    method: string,
    template: string,
    path: string,
    options: InferenceCallOptions = {},
  ): Promise<CheckedAnswer> => {
    const headers: Record<string, string> = {
      ...(options.key === false ? {} : { authorization: `Bearer ${API_KEY}` }),
      ...(options.json !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(options.type ? { 'content-type': options.type } : {}),
      ...options.headers,
    };
    const body = options.json !== undefined ? JSON.stringify(options.json) : options.body;
    const answer = await this.send(this.stack.apiUrl, method, path, { headers, body });
    this.inference.assertAnswer(method, template, answer);
    return { ...answer, json: parseJson(answer.text) };
  };

  /** Calls a management operation with the token (unless told otherwise) and checks the answer. */
  callManagement = async (
    method: string,
    template: string,
    path: string,
    options: { json?: unknown; token?: boolean } = {},
  ): Promise<CheckedAnswer> => {
    const headers: Record<string, string> = {
      ...(options.token === false ? {} : { authorization: `Bearer ${MANAGEMENT_TOKEN}` }),
      ...(options.json !== undefined ? { 'content-type': 'application/json' } : {}),
    };
    const body = options.json !== undefined ? JSON.stringify(options.json) : undefined;
    const answer = await this.send(this.stack.managementUrl, method, path, { headers, body });
    this.management.assertAnswer(method, template, answer);
    return { ...answer, json: parseJson(answer.text) };
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
