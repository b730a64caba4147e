import { rmSync } from 'node:fs';
import { demoModelStore } from './model-store';
import { AppProcess } from './processes';

/** The ports an API process bound, as its `API listening` line says. */
export interface ApiPorts {
  port: number;
  managementPort: number;
  metricsPort: number;
  grpcPort: number;
}

/**
 * An API process alone (no worker), on ports of its own choosing (0) and, unless the test names
 * one, a temporary store with the demo model. `listening()` waits for its ports; a process that
 * is meant to fail at start is awaited with `api.waitForExit()` instead.
 */
export function launchApi(redisUrl: string, env: Record<string, string>) {
  const store = env.MODEL_STORE ? undefined : demoModelStore([{ version: '1' }]);
  const api = AppProcess.start('api', 'apps/api/src/main.js', {
    REDIS_URL: redisUrl,
    API_PORT: '0',
    MANAGEMENT_PORT: '0',
    METRICS_PORT: '0',
    GRPC_PORT: '0',
    ...(store ? { MODEL_STORE: store } : {}),
    ...env,
  });
  return {
    api,
    async listening(): Promise<ApiPorts> {
      const line = await api.waitForLog('API listening');
      return {
        port: Number(line.port),
        managementPort: Number(line.managementPort),
        metricsPort: Number(line.metricsPort),
        grpcPort: Number(line.grpcPort),
      };
    },
    async stop(): Promise<void> {
      await api.stop();
      if (store) rmSync(store, { recursive: true, force: true });
    },
  };
}
