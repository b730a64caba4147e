import { join } from 'node:path';
import {
  Server,
  ServerCredentials,
  loadPackageDefinition,
  status as grpcStatus,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { loadSync, type Options } from '@grpc/proto-loader';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from '@app/common';
import type { FleetHealth } from '../health/fleet-health';
import type { ApiMetrics } from '../metrics/api-metrics';
import type { SyncPredictionService } from '../predictions/sync-prediction.service';
import type { OpenInferenceService } from '../v2/open-inference.service';
import { GrpcCalls } from './grpc-calls';
import {
  OPEN_INFERENCE_PROTO,
  OPEN_INFERENCE_SERVICE,
  openInferenceGrpc,
} from './open-inference.grpc';
import { TORCHSERVE_PROTO_DIR, TORCHSERVE_SERVICE, torchServeGrpc } from './torchserve.grpc';

/** What the gRPC server needs: where to listen, its limits, and the services it answers with. */
export interface GrpcServerOptions {
  host: string;
  /** 0 takes any free port; {@link GrpcServer.port} says which. */
  port: number;
  apiKey?: string;
  /** Largest message accepted (the API's MAX_BODY_BYTES). */
  maxMessageBytes: number;
  maxTexts: number;
  accessLog: boolean;
  logger: Logger;
  inference: OpenInferenceService;
  predictions: SyncPredictionService;
  health: FleetHealth;
  metrics: ApiMetrics;
  /** How often the health service asks Redis whether it answers (default 1 s). */
  healthProbeMs?: number;
}

/** The names the health service answers for: the server as a whole, and each service. */
const HEALTH_NAMES = ['', OPEN_INFERENCE_SERVICE, TORCHSERVE_SERVICE];

/**
 * Adds the health service to `server`, answering for `names` only. grpc-health-check keeps a
 * watcher set for every name a Watch asks about and never drops it, so each distinct name (up to
 * a message's size, from anyone: health needs no key) would stay in memory for good; a name the
 * server does not know is answered here instead (SERVICE_UNKNOWN, the stream held open; a Check's
 * NOT_FOUND without the name), never kept.
 */
export function addHealthService(
  server: Pick<Server, 'addService'>,
  health: HealthImplementation,
  names: readonly string[],
): void {
  const known = (call: { request: { service?: string } }) =>
    names.includes(call.request.service ?? '');
  health.addToServer({
    addService(service: ServiceDefinition, implementation: UntypedServiceImplementation) {
      const { check, watch } = implementation as Record<string, (...args: unknown[]) => void>;
      server.addService(service, {
        ...implementation,
        check: (
          call: ServerUnaryCall<{ service?: string }, unknown>,
          callback: sendUnaryData<unknown>,
        ) =>
          known(call)
            ? check(call, callback)
            : callback({
                code: grpcStatus.NOT_FOUND,
                details: 'health status unknown for the service asked',
              }),
        watch: (call: ServerWritableStream<{ service?: string }, { status: string }>) =>
          known(call) ? watch(call) : call.write({ status: 'SERVICE_UNKNOWN' }),
      });
    },
  });
}

/** How proto-loader reads the vendored files: field names as written, 64-bit ints as numbers. */
const LOADER: Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** A service's definition from a loaded `.proto` file, by its full name. */
function serviceOf(file: string, name: string, includeDirs: string[] = []): ServiceDefinition {
  const loaded = loadPackageDefinition(loadSync(file, { ...LOADER, includeDirs }));
  const service = name
    .split('.')
    .reduce<Record<string, unknown>>(
      (scope, part) => scope[part] as Record<string, unknown>,
      loaded,
    ) as unknown as { service: ServiceDefinition };
  return service.service;
}

/**
 * The API's gRPC server: the Open Inference Protocol's `GRPCInferenceService`, TorchServe's
 * `InferenceAPIsService`, and the standard health service (`grpc.health.v1.Health`), which
 * follows Redis as `/readyz` does: SERVING while Redis answers, NOT_SERVING while it does not
 * and from the moment shutdown begins. Plaintext, on API_HOST, like the HTTP ports.
 */
export class GrpcServer {
  private status: 'SERVING' | 'NOT_SERVING' = 'SERVING';
  private stopping = false;
  private readonly probeTimer: NodeJS.Timeout;

  private constructor(
    private readonly server: Server,
    private readonly health: HealthImplementation,
    /** The port bound: the one asked for, or the one the OS picked for 0. */
    readonly port: number,
    fleet: FleetHealth,
    probeMs: number,
  ) {
    // One probe at a time: a Redis that hangs holds the next one back, not a pile of them.
    let probing = false;
    this.probeTimer = setInterval(() => {
      if (probing) return;
      probing = true;
      // redisProblem never rejects: a failed ping is its answer.
      void fleet
        .redisProblem()
        .then((problem) => this.setStatus(problem ? 'NOT_SERVING' : 'SERVING'))
        .finally(() => (probing = false));
    }, probeMs).unref();
  }

  /** Sets every health name's status; watchers hear of a change only. */
  private setStatus(status: 'SERVING' | 'NOT_SERVING'): void {
    if (this.stopping || status === this.status) return;
    this.status = status;
    for (const name of HEALTH_NAMES) this.health.setStatus(name, status);
  }

  /** Starts serving; fails with the address when the port cannot be bound. */
  static async start(options: GrpcServerOptions): Promise<GrpcServer> {
    const server = new Server({
      'grpc.max_receive_message_length': options.maxMessageBytes,
    });
    const calls = new GrpcCalls({ ...options, requests: options.metrics.httpRequests });
    server.addService(
      serviceOf(OPEN_INFERENCE_PROTO, OPEN_INFERENCE_SERVICE),
      openInferenceGrpc(options.inference, calls),
    );
    server.addService(
      serviceOf(join(TORCHSERVE_PROTO_DIR, 'inference.proto'), TORCHSERVE_SERVICE, [
        TORCHSERVE_PROTO_DIR,
      ]),
      torchServeGrpc(options.predictions, options.health, calls, options.maxTexts),
    );
    const health = new HealthImplementation(
      Object.fromEntries(HEALTH_NAMES.map((name) => [name, 'SERVING'])),
    );
    addHealthService(server, health, HEALTH_NAMES);
    const address = `${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`;
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(address, ServerCredentials.createInsecure(), (error, bound) =>
        error
          ? reject(
              new Error(`gRPC cannot listen on ${address} (API_HOST, GRPC_PORT): ${error.message}`),
            )
          : resolve(bound),
      ),
    );
    return new GrpcServer(server, health, port, options.health, options.healthProbeMs ?? 1000);
  }

  /**
   * Stops taking calls and waits for those in flight, for up to `timeoutMs`; then cuts what is
   * left. Health answers NOT_SERVING meanwhile, so a balancer stops sending calls here.
   */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.setStatus('NOT_SERVING');
    this.stopping = true;
    clearInterval(this.probeTimer);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, timeoutMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
