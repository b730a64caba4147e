import { join } from 'node:path';
import { Pool } from 'undici';
import { TestRedis, type RedisServer } from '../test/support/redis-server';
import { Stack } from '../test/support/stack';
import { THREAD_STARTED } from './thread-tag';

/** A worker process, for reading its CPU time from `/proc` by thread. */
export interface BenchWorker {
  pid: number;
  /** OS thread ids of the worker's `worker_threads` threads (its inference thread). */
  inferenceThreads: number[];
  /** The worker's threads other than its main one that ran before its inference thread started. */
  nodeThreads: number[];
}

/** The stack's processes, for reading their CPU time from `/proc`. */
export interface BenchProcesses {
  api: number;
  /** The API processes under `api` when it runs several (API_PROCESSES): their CPU counts as the API's. */
  apiChildren?: number[];
  redis: number;
  workers: BenchWorker[];
}

/**
 * A local deployment (Redis, API, `workers` workers) for a benchmark, with a keep-alive HTTP
 * pool; over `modelStore`, or a temporary store holding the demo model. `env` goes to every
 * process, `workerEnv` to the workers alone; every process preloads `bench/thread-tag` and the
 * modules of `preloads`. Its processes are started from this thread, so they inherit its CPU
 * affinity.
 */
export async function startBenchStack(
  modelStore?: string,
  env: Record<string, string> = {},
  workers = 1,
  workerEnv: Record<string, string> = {},
  preloads: string[] = [],
  /** A Redis the benchmark started (stopped with the stack), and the pid of its primary. */
  own?: { server: RedisServer; pid: number },
) {
  const required = [join(__dirname, 'thread-tag.js'), ...preloads]
    .map((file) => ` --require "${file}"`)
    .join('');
  const fresh = own ? undefined : await TestRedis.start();
  const redis = own?.server ?? fresh!;
  const redisPid = own?.pid ?? fresh!.pid;
  const stack = await Stack.start({
    modelStore,
    redis,
    workers,
    workerEnv,
    env: {
      // Start-up lines (which say the ports) are info; the access log is what would cost.
      ACCESS_LOG: 'false',
      INTRA_OP_THREADS: '0',
      SYNC_TIMEOUT_MS: '120000',
      MAX_TEXTS_PER_REQUEST: '100000',
      MAX_BODY_BYTES: String(64 * 1024 * 1024),
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''}${required}`,
      ...env,
    },
  });
  const pool = new Pool(stack.apiUrl, { connections: 256, pipelining: 1 });
  return {
    stack,
    /** The URL of the stack's Redis. */
    redisUrl: redis.url,
    /** POSTs JSON and returns the status and parsed body. */
    async post(path: string, body: unknown): Promise<{ status: number; body: unknown }> {
      const response = await pool.request({
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: response.statusCode, body: await response.body.json() };
    },
    processes(): BenchProcesses {
      const workers = stack.workers.map((worker) => {
        const tags = worker.logs().filter((line) => line.msg === THREAD_STARTED);
        if (tags.length === 0)
          throw new Error(`${worker.name} started no thread that said its id (bench/thread-tag)`);
        return {
          pid: worker.child.pid!,
          inferenceThreads: tags.map((line) => Number(line.tid)),
          nodeThreads: (tags[0].earlier as number[]).map(Number),
        };
      });
      const apiChildren = stack.api
        .logs()
        .filter((line) => line.msg === 'started API process')
        .map((line) => Number(line.childPid));
      return { api: stack.api.child.pid!, apiChildren, redis: redisPid, workers };
    },
    async stop() {
      await pool.close();
      await stack.stop();
    },
  };
}
