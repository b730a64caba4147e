import cluster, { type Worker } from 'node:cluster';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { ProcessMetrics } from './process-metrics';
import {
  RestartTracker,
  connectRedisFailFast,
  redisTarget,
  startOpsServer,
  type Logger,
} from '@app/common';
import { onStopSignal } from '@app/common/stop-signals';
import type { ApiConfig } from './config';

/** What an API process tells the primary once its ports listen (IPC). */
export const API_PROCESS_LISTENING = 'modelfleet:api-process-listening';

/** The ports an API process bound (the metrics port is the primary's). */
export interface ApiProcessPorts {
  port: number;
  managementPort: number;
  grpcPort: number;
}

interface ListeningMessage {
  type: typeof API_PROCESS_LISTENING;
  ports: ApiProcessPorts;
}

/** One of the API processes the primary keeps running. */
interface Slot {
  index: number;
  worker?: Worker;
  tracker: RestartTracker;
  listening: boolean;
  timer?: NodeJS.Timeout;
}

/**
 * In an API process of several: has prom-client answer the primary's requests for this process's
 * metrics (its registry), which the primary adds up on `/metrics`.
 */
export function shareMetricsWithPrimary(registry: Registry): void {
  AggregatorRegistry.setRegistries([registry]);
  // Its constructor installs the listener that answers the primary.
  new AggregatorRegistry();
}

/** In an API process of several: tells the primary its ports listen. */
export function reportListening(ports: ApiProcessPorts): void {
  const message: ListeningMessage = { type: API_PROCESS_LISTENING, ports };
  process.send?.(message);
}

/**
 * The primary of `API_PROCESSES` API processes on the same ports: node:cluster forks them and
 * shares their listening sockets (HTTP, management and gRPC; the primary accepts connections and
 * hands them round-robin). The primary serves the metrics port itself: `/metrics` adds up the
 * processes' metrics, an exited one's counters kept (see `ProcessMetrics`), `/readyz` asks Redis.
 *
 * The first process starts alone (it registers the store's packages, as a lone API does), then
 * the others. The primary logs `API listening` once every process listens. A process that exits
 * unasked is restarted with backoff, as `modelfleet serve` restarts the API; one that keeps
 * failing before it listens, a process that exits before the first start is complete, or the
 * last one exiting stops the primary (exit 1), so a supervisor above restarts the whole API on
 * its ports. On SIGTERM or SIGINT every process stops as a lone API does (requests in flight are
 * answered), then the primary exits.
 */
export async function runApiPrimary(config: ApiConfig, logger: Logger): Promise<void> {
  const count = config.API_PROCESSES;
  const redis = connectRedisFailFast(redisTarget(config), config.REDIS_COMMAND_TIMEOUT_MS);
  redis.on('error', () => undefined);
  const processMetrics = new ProcessMetrics();
  const ops = await startOpsServer(
    config.METRICS_PORT,
    config.API_HOST,
    { metrics: () => processMetrics.metrics(), contentType: processMetrics.contentType },
    {
      readiness: async () => {
        const up = slots.filter((s) => s.listening).length;
        if (up === 0) return 'no API process listens';
        try {
          await redis.ping();
          return undefined;
        } catch (error) {
          return `Redis is unreachable: ${(error as Error).message}`;
        }
      },
    },
  );
  const policy = {
    backoffMs: config.RESTART_BACKOFF_MS,
    maxBackoffMs: Math.max(30_000, config.RESTART_BACKOFF_MS),
    maxStartFailures: config.MAX_START_FAILURES,
    stableMs: 30_000,
  };
  const slots: Slot[] = Array.from({ length: count }, (_, i) => ({
    index: i + 1,
    tracker: new RestartTracker(policy),
    listening: false,
  }));
  let firstPorts: ApiProcessPorts | undefined;
  let started = false;
  let stopping = false;
  let clean = true;
  const exits: (() => void)[] = [];

  const fail = (reason: string) => {
    if (stopping) return;
    logger.error({ reason }, 'stopping the API processes');
    process.stderr.write(`api: ${reason}\n`);
    void stop(1);
  };

  const fork = (slot: Slot) => {
    const worker = cluster.fork({ MODELFLEET_API_PROCESS: String(slot.index) });
    slot.worker = worker;
    slot.listening = false;
    const startedAt = Date.now();
    logger.info({ apiProcess: slot.index, childPid: worker.process.pid }, 'started API process');
    worker.on('message', (message: Partial<ListeningMessage>) => {
      if (message?.type !== API_PROCESS_LISTENING || !message.ports) return;
      slot.listening = true;
      firstPorts ??= message.ports;
      onListening();
    });
    worker.once('exit', (code, signal) => {
      processMetrics.retire(worker);
      slot.worker = undefined;
      const wasListening = slot.listening;
      slot.listening = false;
      if (stopping) {
        clean &&= code === 0;
        if (slots.every((s) => !s.worker)) exits.splice(0).forEach((done) => done());
        return;
      }
      if (!started) {
        fail(
          `API process ${slot.index} exited before the API started (code ${code}, signal ${signal})`,
        );
        return;
      }
      if (slots.every((s) => !s.worker && s.timer === undefined)) {
        fail(`the last API process exited (code ${code}, signal ${signal})`);
        return;
      }
      const decision = slot.tracker.onExit({
        started: wasListening,
        ranMs: Date.now() - startedAt,
      });
      if (!decision.restart) {
        fail(
          `API process ${slot.index} could not start (${slot.tracker.failedStarts} tries in a row)`,
        );
        return;
      }
      logger.warn(
        { apiProcess: slot.index, code, signal, restartInMs: decision.delayMs },
        'API process exited: restarting it',
      );
      slot.timer = setTimeout(() => {
        slot.timer = undefined;
        if (!stopping) fork(slot);
      }, decision.delayMs);
    });
  };

  const onListening = () => {
    if (!started && slots[0].listening && slots.slice(1).every((s) => !s.worker)) {
      // The first one registered the store's packages: the others start together.
      slots.slice(1).forEach(fork);
    }
    if (started || !slots.every((s) => s.listening)) return;
    started = true;
    // The same line a lone API logs, with the ports every process shares.
    logger.info(
      { ...firstPorts, metricsPort: (ops.address() as AddressInfo).port, processes: count },
      'API listening',
    );
  };

  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    logger.info({ processes: count }, 'stopping the API processes');
    // Past the processes' own grace: whatever still runs then is killed.
    setTimeout(() => {
      for (const slot of slots) slot.worker?.process.kill('SIGKILL');
      process.exit(1);
    }, config.SHUTDOWN_GRACE_MS + 2000).unref();
    const allExited = new Promise<void>((done) => exits.push(done));
    for (const slot of slots) {
      clearTimeout(slot.timer);
      slot.timer = undefined;
      slot.worker?.process.kill('SIGTERM');
    }
    if (slots.some((s) => s.worker)) await allExited;
    await closeServer(ops);
    redis.disconnect();
    process.exit(code || (clean ? 0 : 1));
  };

  // A signal that came while the primary started stops it now.
  onStopSignal(() => void stop(0));
  fork(slots[0]);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((done) => server.close(() => done()));
}
