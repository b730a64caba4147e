import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { DeviceChoice } from './handler';
import { ModelPackageError } from './errors';
import { onnxRuntime, onnxRuntimeVersion } from './ort';

/** The provider a session actually runs on: `cuda` only when the CUDA provider took the graph. */
export type Provider = 'cuda' | 'cpu';

export interface SessionOptions {
  readonly device: DeviceChoice;
  readonly intraOpNumThreads: number;
  /** Let ORT's intra-op threads spin between operators (faster alone, greedier beside others). */
  readonly spinning?: boolean;
  readonly log: (message: string) => void;
}

/** Where the nodes of a graph ran in one probe pass, counted per execution provider. */
export interface Placement {
  /** Nodes per ORT provider name, e.g. `{ CUDAExecutionProvider: 98, CPUExecutionProvider: 6 }`. */
  readonly nodes: Record<string, number>;
  /** Matrix products and attention nodes (the graph's arithmetic) that ran on the CPU. */
  readonly heavyOnCpu: readonly string[];
}

/** A session, the provider it runs on, and where its nodes were placed (CUDA sessions only). */
export interface OpenedSession {
  readonly session: InferenceSession;
  readonly provider: Provider;
  readonly placement?: Placement;
}

const CUDA_EP = 'CUDAExecutionProvider';
/** Node types that carry a transformer's arithmetic: the CUDA provider must run all of them. */
const HEAVY_OP = /MatMul|Gemm|Attention|Conv/;

/** True when the NVIDIA driver exposes a device node, i.e. a GPU is usable by this process. */
export function gpuPresent(): boolean {
  return existsSync('/dev/nvidiactl') || existsSync('/dev/nvidia0');
}

/**
 * Opens an ORT session on CUDA when asked for (or `auto` with a GPU present), and otherwise
 * on the CPU. A CUDA session runs one profiled probe pass to learn where ORT placed the nodes:
 * it reports `cuda` only when the CUDA provider ran every matrix product and attention node,
 * and says in one log line how many nodes each provider took. A CUDA session that cannot be
 * created falls back to the CPU with one log line.
 */
export async function openSession(
  modelFile: string,
  options: SessionOptions,
): Promise<OpenedSession> {
  if (!existsSync(modelFile)) throw new ModelPackageError(`model file ${modelFile} does not exist`);
  const ort = onnxRuntime();
  const base: InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    // Spinning intra-op threads burn the cores the worker's Redis traffic and the API need.
    extra: { session: { intra_op: { allow_spinning: options.spinning ? '1' : '0' } } },
    ...(options.intraOpNumThreads > 0 ? { intraOpNumThreads: options.intraOpNumThreads } : {}),
  };
  const wantCuda = options.device === 'cuda' || (options.device === 'auto' && gpuPresent());
  if (wantCuda) {
    const profileDir = mkdtempSync(join(tmpdir(), 'modelfleet-placement-'));
    try {
      const session = await ort.InferenceSession.create(modelFile, {
        ...base,
        executionProviders: [{ name: 'cuda', deviceId: 0 }, 'cpu'],
        enableProfiling: true,
        profileFilePrefix: join(profileDir, 'probe'),
      });
      const placement = await probePlacement(session, profileDir);
      const provider: Provider =
        (placement.nodes[CUDA_EP] ?? 0) > 0 && placement.heavyOnCpu.length === 0 ? 'cuda' : 'cpu';
      options.log(describePlacement(provider, placement));
      return { session, provider, placement };
    } catch (error) {
      options.log(`CUDA execution provider unavailable, falling back to CPU: ${firstLine(error)}`);
    } finally {
      rmSync(profileDir, { recursive: true, force: true });
    }
  }
  try {
    const session = await ort.InferenceSession.create(modelFile, {
      ...base,
      executionProviders: ['cpu'],
    });
    return { session, provider: 'cpu' };
  } catch (error) {
    throw new ModelPackageError(`model file ${modelFile} cannot be loaded: ${firstLine(error)}`);
  }
}

/**
 * Runs one short pass (one row of eight tokens) with profiling on, then ends profiling (later
 * runs are not profiled) and counts the nodes of the profile per execution provider.
 */
async function probePlacement(session: InferenceSession, profileDir: string): Promise<Placement> {
  const ort = onnxRuntime();
  const feeds: Record<string, Tensor> = {};
  session.inputMetadata.forEach((meta, i) => {
    const type = meta.isTensor ? meta.type : 'int64';
    const dims = meta.isTensor
      ? meta.shape.map((d, axis) => (typeof d === 'number' ? d : axis === 0 ? 1 : 8))
      : [1, 8];
    const size = dims.reduce((a, b) => a * b, 1);
    const data =
      type === 'int64'
        ? new BigInt64Array(size).fill(1n)
        : type === 'int32'
          ? new Int32Array(size).fill(1)
          : new Float32Array(size);
    feeds[session.inputNames[i]] = new ort.Tensor(type as 'int64', data as BigInt64Array, dims);
  });
  await session.run(feeds);
  session.endProfiling();
  const file = readdirSync(profileDir).find((name) => name.endsWith('.json'));
  if (!file) throw new Error('ORT wrote no profile for the placement probe');
  const events = JSON.parse(readFileSync(join(profileDir, file), 'utf8')) as ProfileEvent[];
  const nodes: Record<string, number> = {};
  const heavyOnCpu: string[] = [];
  for (const event of events) {
    if (event.cat !== 'Node' || !event.name.endsWith('_kernel_time') || !event.args?.provider)
      continue;
    const { provider, op_name: op } = event.args;
    nodes[provider] = (nodes[provider] ?? 0) + 1;
    if (provider !== CUDA_EP && op && HEAVY_OP.test(op)) heavyOnCpu.push(op);
  }
  return { nodes, heavyOnCpu };
}

interface ProfileEvent {
  cat: string;
  name: string;
  args?: { provider?: string; op_name?: string };
}

function describePlacement(provider: Provider, placement: Placement): string {
  const total = Object.values(placement.nodes).reduce((a, b) => a + b, 0);
  const onCuda = placement.nodes[CUDA_EP] ?? 0;
  const head = `onnxruntime-node ${onnxRuntimeVersion()}: the CUDA provider runs ${onCuda} of ${total} nodes`;
  return provider === 'cuda'
    ? `${head}, every matrix product among them: provider cuda`
    : `${head}; ${placement.heavyOnCpu.length} matrix products run on the CPU ` +
        `(${[...new Set(placement.heavyOnCpu)].join(', ') || 'none on CUDA'}): provider cpu`;
}

function firstLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error).split('\n')[0];
}
