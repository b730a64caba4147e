import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { predictionQueueName } from '@app/common';
import { AppProcess, eventually } from './processes';
import { freePort, startTestRedis, type TestRedis } from './redis-server';
import { DEMO_MODEL } from './paths';
import { dirname } from 'node:path';

/** The management token every test stack uses. */
export const MANAGEMENT_TOKEN = 'test-management-token-0123456789';

export interface StackOptions {
  /** Model store folder (default: the repository's models/). */
  modelStore?: string;
  /** Extra environment for the API and workers. */
  env?: Record<string, string>;
  workers?: number;
  workerEnv?: Record<string, string>;
  /** A Redis the test started (stopped with the stack); default: a fresh open one. */
  redis?: TestRedis;
  /** Wait for /ping to say Healthy (default true; needs a worker). */
  waitHealthy?: boolean;
}

/** A real Redis, the API and worker processes over the demo model store, for end-to-end tests. */
export class Stack {
  readonly workers: AppProcess[] = [];
  private readonly queues: Queue[] = [];

  private constructor(
    readonly redis: TestRedis,
    readonly api: AppProcess,
    readonly apiUrl: string,
    readonly managementUrl: string,
    private readonly env: Record<string, string>,
    /** The Standard Webhooks secret the API signs with. */
    readonly webhookSecret: string,
  ) {}

  static async start(options: StackOptions = {}): Promise<Stack> {
    const redis = options.redis ?? (await startTestRedis());
    const port = await freePort();
    const managementPort = await freePort();
    const secret = `whsec_${randomBytes(24).toString('base64')}`;
    const env = {
      REDIS_URL: redis.url,
      MODEL_STORE: options.modelStore ?? dirname(DEMO_MODEL),
      WEBHOOK_SECRET: secret,
      WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
      WEBHOOK_BACKOFF_MS: '50',
      WEBHOOK_MAX_ATTEMPTS: '3',
      HEARTBEAT_MS: '500',
      WORKER_METRICS_PORT: '0',
      METRICS_PORT: '0',
      REGISTRY_POLL_MS: '500',
      INTRA_OP_THREADS: '1',
      ...options.env,
    };
    const api = AppProcess.start('api', 'apps/api/src/main.js', {
      ...env,
      API_PORT: String(port),
      MANAGEMENT_PORT: String(managementPort),
      MANAGEMENT_TOKEN,
      API_HOST: '127.0.0.1',
    });
    const stack = new Stack(
      redis,
      api,
      `http://127.0.0.1:${port}`,
      `http://127.0.0.1:${managementPort}`,
      env,
      secret,
    );
    for (let i = 0; i < (options.workers ?? 1); i++) stack.addWorker(options.workerEnv);
    if (options.waitHealthy ?? true) await stack.waitHealthy();
    else await stack.waitListening();
    return stack;
  }

  addWorker(env: Record<string, string> = {}): AppProcess {
    const id = `test-worker-${this.workers.length + 1}`;
    const worker = AppProcess.start(id, 'apps/worker/src/main.js', {
      ...this.env,
      WORKER_ID: id,
      ...env,
    });
    this.workers.push(worker);
    return worker;
  }

  /** A BullMQ handle on the queue of a model version, closed with the stack. */
  predictionQueue(model = 'ag-news-bert', version = '1'): Queue {
    const queue = new Queue(predictionQueueName(model, version), {
      connection: { url: this.redis.url },
      prefix: 'mf',
    });
    this.queues.push(queue);
    return queue;
  }

  /** The environment the API and workers run with. */
  get environment(): Record<string, string> {
    return { ...this.env };
  }

  /** Waits until the API answers at all. */
  async waitListening(timeoutMs = 60_000): Promise<void> {
    await eventually(
      'the API to listen',
      async () => {
        if (!this.api.running) throw new Error(`API exited:\n${this.api.output.join('\n')}`);
        await fetch(`${this.apiUrl}/ping`);
        return true;
      },
      timeoutMs,
      200,
    );
  }

  /** Waits until GET /ping answers Healthy. */
  async waitHealthy(timeoutMs = 60_000): Promise<void> {
    await eventually(
      'the API to report Healthy',
      async () => {
        if (!this.api.running) throw new Error(`API exited:\n${this.api.output.join('\n')}`);
        const response = await fetch(`${this.apiUrl}/ping`);
        return response.status === 200 ? true : undefined;
      },
      timeoutMs,
      200,
    );
  }

  /** Calls the management API with its token. */
  manage(method: string, path: string, body?: unknown) {
    const auth = { authorization: `Bearer ${MANAGEMENT_TOKEN}` };
    return this.request(method, path, body, auth, this.managementUrl);
  }

  /** Sends JSON and returns status, headers and the parsed body. */
  async request(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    base = this.apiUrl,
  ) {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: response.status, headers: response.headers, body: json as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
  }

  async stop(): Promise<void> {
    await Promise.all(this.queues.map((q) => q.close()));
    await Promise.all(this.workers.map((w) => w.stop()));
    await this.api.stop();
    await this.redis.stop();
  }
}
