import { join } from 'node:path';
import {
  Client,
  Metadata,
  credentials,
  loadPackageDefinition,
  type CallOptions,
  type ServiceError,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ROOT } from './paths';

/** The vendored Open Inference Protocol file, read from the sources: what any client would use. */
export const OPEN_INFERENCE_PROTO = join(ROOT, 'apps', 'api', 'src', 'v2', 'grpc_predict_v2.proto');

/** TorchServe's vendored `inference.proto` and the folder of what it imports. */
const TORCHSERVE_DIR = join(ROOT, 'apps', 'api', 'src', 'grpc', 'torchserve');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Message = Record<string, any>;

/** A failed call: its gRPC code and details, to assert on. */
export type CallError = ServiceError;

/**
 * A plain gRPC client of one service, built from a `.proto` file alone (no generated code), with
 * promise-returning unary calls and, optionally, metadata sent with every call.
 */
export class GrpcTestClient {
  private readonly client: Client & Record<string, unknown>;

  constructor(
    address: string,
    file: string,
    service: string,
    private readonly metadata: Record<string, string> = {},
    includeDirs: string[] = [],
  ) {
    const loaded = loadPackageDefinition(
      loadSync(file, { keepCase: true, longs: Number, enums: String, defaults: true, includeDirs }),
    );
    const Service = service
      .split('.')
      .reduce<Message>((scope, part) => scope[part] as Message, loaded) as unknown as new (
      address: string,
      creds: ReturnType<typeof credentials.createInsecure>,
    ) => Client & Record<string, unknown>;
    this.client = new Service(address, credentials.createInsecure());
  }

  /** The Open Inference Protocol's `inference.GRPCInferenceService`. */
  static openInference(address: string, metadata?: Record<string, string>): GrpcTestClient {
    return new GrpcTestClient(
      address,
      OPEN_INFERENCE_PROTO,
      'inference.GRPCInferenceService',
      metadata,
    );
  }

  /** TorchServe's `InferenceAPIsService`. */
  static torchServe(address: string): GrpcTestClient {
    return new GrpcTestClient(
      address,
      join(TORCHSERVE_DIR, 'inference.proto'),
      'org.pytorch.serve.grpc.inference.InferenceAPIsService',
      {},
      [TORCHSERVE_DIR],
    );
  }

  /** Calls a unary method (with a gRPC deadline, if given); rejects with the {@link CallError}. */
  call(method: string, request: Message = {}, options: CallOptions = {}): Promise<Message> {
    const metadata = new Metadata();
    for (const [key, value] of Object.entries(this.metadata)) metadata.set(key, value);
    const fn = this.client[method] as (
      request: Message,
      metadata: Metadata,
      options: CallOptions,
      callback: (error: ServiceError | null, answer: Message) => void,
    ) => void;
    return new Promise((resolve, reject) =>
      fn.call(this.client, request, metadata, options, (error, answer) =>
        error ? reject(error) : resolve(answer),
      ),
    );
  }

  /** Calls a server-streaming method; resolves with every message once the stream ends. */
  stream(method: string, request: Message = {}): Promise<Message[]> {
    const fn = this.client[method] as (request: Message) => NodeJS.ReadableStream;
    const call = fn.call(this.client, request);
    const messages: Message[] = [];
    return new Promise((resolve, reject) => {
      call.on('data', (message: Message) => messages.push(message));
      call.on('error', reject);
      call.on('end', () => resolve(messages));
    });
  }

  /** The error a call fails with; fails the test if it succeeds. */
  async failure(method: string, request: Message = {}): Promise<CallError> {
    try {
      const answer = await this.call(method, request);
      throw new Error(`${method} succeeded: ${JSON.stringify(answer)}`);
    } catch (error) {
      if ((error as Partial<ServiceError>).code === undefined) throw error;
      return error as CallError;
    }
  }

  /**
   * Resolves once the channel has connected: a call made after it spends its deadline on the
   * call, not on connecting (which a loaded machine can make last longer than a short deadline).
   */
  ready(timeoutMs = 30_000): Promise<void> {
    return new Promise((resolve, reject) =>
      this.client.waitForReady(Date.now() + timeoutMs, (error) =>
        error ? reject(error) : resolve(),
      ),
    );
  }

  close(): void {
    this.client.close();
  }
}
