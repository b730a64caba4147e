import { Pool } from 'undici';
import { Stack } from '../test/support/stack';

/**
 * A local deployment (Redis, API, one worker) for a benchmark, with a keep-alive HTTP pool;
 * over `modelStore`, or a temporary store holding the demo model.
 */
export async function startBenchStack(modelStore?: string, env: Record<string, string> = {}) {
  const stack = await Stack.start({
    modelStore,
    env: {
      // Start-up lines (which say the ports) are info; the access log is what would cost.
      ACCESS_LOG: 'false',
      INTRA_OP_THREADS: '0',
      SYNC_TIMEOUT_MS: '120000',
      MAX_TEXTS_PER_REQUEST: '100000',
      MAX_BODY_BYTES: String(64 * 1024 * 1024),
      ...env,
    },
  });
  const pool = new Pool(stack.apiUrl, { connections: 256, pipelining: 1 });
  return {
    stack,
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
    async stop() {
      await pool.close();
      await stack.stop();
    },
  };
}
