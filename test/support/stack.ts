import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { Queue } from 'bullmq';
import { bulkQueueName, commonSettings, predictionQueueName } from '@app/common';
import { demoModelStore } from './model-store';
import { AppProcess, eventually, untilHealthy } from './processes';
import { TestRedis, type RedisServer } from './redis-server';

/** The management token every test stack uses. */
export const MANAGEMENT_TOKEN = 'test-management-token-0123456789';

export interface StackOptions {
  /** Model store folder (default: a temporary store holding the demo model as version 1). */
  modelStore?: string;
  /** Extra environment for the API and workers. */
  env?: Record<string, string>;
  workers?: number;
  workerEnv?: Record<string, string>;
  /** A Redis the test started (stopped with the stack); default: a fresh open one. */
  redis?: RedisServer;
  /** Wait for /ping to say Healthy (default true; needs a worker). */
  waitHealthy?: boolean;
}

/**
 * A real Redis, the API and worker processes over a model store, for end-to-end tests. Every
 * process binds port 0 (or, for Redis, a port it retries) and the stack reads the ports they got
 * from their startup log lines: ports are never guessed.
 */
export class Stack {
  readonly workers: AppProcess[] = [];
  private readonly queues: Queue[] = [];
  private apiProcess?: AppProcess;
  private ports?: { port: number; managementPort: number; metricsPort: number; grpcPort: number };

  private constructor(
    readonly redis: RedisServer,
    private readonly env: Record<string, string>,
    /** The Standard Webhooks secret the API signs with. */
    readonly webhookSecret: string,
    /** A store this stack made, removed when it stops. */
    private readonly ownStore?: string,
  ) {}

  static async start(options: StackOptions = {}): Promise<Stack> {
    const redis = options.redis ?? (await TestRedis.start());
    const ownStore = options.modelStore ? undefined : demoModelStore([{ version: '1' }]);
    const secret = `whsec_${randomBytes(24).toString('base64')}`;
    const env = {
      REDIS_URL: redis.url,
      MODEL_STORE: options.modelStore ?? ownStore!,
      WEBHOOK_SECRET: secret,
      WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
      WEBHOOK_BACKOFF_MS: '50',
      WEBHOOK_MAX_ATTEMPTS: '3',
      HEARTBEAT_MS: '500',
      WORKER_METRICS_PORT: '0',
      WORKER_METRICS_HOST: '127.0.0.1',
      REGISTRY_POLL_MS: '500',
      INTRA_OP_THREADS: '1',
      ...options.env,
    };
    const stack = new Stack(redis, env, secret, ownStore);
    try {
      stack.apiProcess = AppProcess.start('api', 'apps/api/src/main.js', {
        ...env,
        API_PORT: '0',
        MANAGEMENT_PORT: '0',
        METRICS_PORT: '0',
        GRPC_PORT: '0',
        MANAGEMENT_TOKEN,
        API_HOST: '127.0.0.1',
      });
      for (let i = 0; i < (options.workers ?? 1); i++) stack.addWorker(options.workerEnv);
      const listening = await stack.api.waitForLog('API listening');
      stack.ports = {
        port: Number(listening.port),
        managementPort: Number(listening.managementPort),
        metricsPort: Number(listening.metricsPort),
        grpcPort: Number(listening.grpcPort),
      };
      if (options.waitHealthy ?? true) {
        await stack.waitHealthy();
        // One worker makes the API healthy; a test that stops or faults any of them needs each
        // one started, its signal handlers in place.
        await Promise.all(stack.workers.map((w) => w.waitForLog('worker started')));
      } else await stack.waitListening();
      return stack;
    } catch (error) {
      await stack.stop();
      throw error;
    }
  }

  /** The API process. */
  get api(): AppProcess {
    return this.apiProcess!;
  }

  /** Base URL of the inference API. */
  get apiUrl(): string {
    return `http://127.0.0.1:${this.ports!.port}`;
  }

  /** Base URL of the management API. */
  get managementUrl(): string {
    return `http://127.0.0.1:${this.ports!.managementPort}`;
  }

  /** Base URL of the API's `/metrics`, `/healthz` and `/readyz`. */
  get metricsUrl(): string {
    return `http://127.0.0.1:${this.ports!.metricsPort}`;
  }

  /** Address of the API's gRPC server (`host:port`, plaintext). */
  get grpcAddress(): string {
    return `127.0.0.1:${this.ports!.grpcPort}`;
  }

  /** Base URL of a worker's `/metrics`, `/healthz` and `/readyz`, once it has started. */
  async workerMetricsUrl(worker: AppProcess): Promise<string> {
    const started = await worker.waitForLog('worker started');
    return `http://127.0.0.1:${Number(started.opsPort)}`;
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
    return this.queue(predictionQueueName(model, version));
  }

  /** A BullMQ handle on the bulk-chunk queue of a model version, closed with the stack. */
  bulkQueue(model = 'ag-news-bert', version = '1'): Queue {
    return this.queue(bulkQueueName(model, version));
  }

  private queue(name: string): Queue {
    const queue = new Queue(name, {
      connection: { url: this.redis.url },
      // The prefix the stack's processes use: their setting, or its default.
      prefix: commonSettings.KEY_PREFIX.parse(this.env.KEY_PREFIX),
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
        if (!this.api.running) throw this.api.exitedError();
        await fetch(`${this.apiUrl}/ping`);
        return true;
      },
      timeoutMs,
      200,
    );
  }

  /** Waits until GET /ping answers Healthy. */
  async waitHealthy(timeoutMs = 60_000): Promise<void> {
    await untilHealthy(this.api, this.apiUrl, 'the API', timeoutMs);
  }

  /** Waits until a worker serves `model` version `version` (its description says READY). */
  async versionServed(model: string, version: string, timeoutMs = 120_000): Promise<void> {
    await eventually(
      `a worker serving ${model} version ${version}`,
      async () => {
        const { body } = await this.manage('GET', `/models/${model}/${version}`);
        return body[0]?.status === 'READY' || undefined;
      },
      timeoutMs,
      250,
    );
  }

  /** Waits until batch `id` is no longer running and returns its view. */
  async batchFinished(id: string, timeoutMs = 120_000) {
    return eventually(
      `batch ${id} to finish`,
      async () => {
        const view = await this.request('GET', `/v1/batches/${id}`);
        return view.body.status !== 'running' ? view.body : undefined;
      },
      timeoutMs,
      200,
    );
  }

  /** The rows of the JSONL file (a batch's results or errors) the API serves at `url`. */
  async jsonlRows(url: string) {
    const file = (await this.request('GET', url)).body as string;
    return file
      .trim()
      .split('\n')
      .map((line): any => JSON.parse(line)); // eslint-disable-line @typescript-eslint/no-explicit-any
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

  /** Stops every process of the stack (also when it did not fully start) and removes its store. */
  async stop(): Promise<void> {
    await Promise.all(this.queues.map((q) => q.close()));
    await Promise.all(this.workers.map((w) => w.stop()));
    await this.apiProcess?.stop();
    await this.redis.stop();
    if (this.ownStore) rmSync(this.ownStore, { recursive: true, force: true });
  }
}
