import { existsSync } from 'node:fs';
import { InferenceSession, env } from 'onnxruntime-node';

// ORT's own logger would add its native error lines to ours (a missing CUDA library is
// reported once, below); failures still surface as exceptions.
env.logLevel = 'fatal';
import type { DeviceChoice } from './handler';
import { ModelPackageError } from './errors';

/** The provider a session actually runs on. */
export type Provider = 'cuda' | 'cpu';

export interface SessionOptions {
  readonly device: DeviceChoice;
  readonly intraOpNumThreads: number;
  /** Let ORT's intra-op threads spin between operators (faster alone, greedier beside others). */
  readonly spinning?: boolean;
  readonly log: (message: string) => void;
}

/** True when the NVIDIA driver exposes a device node, i.e. a GPU is usable by this process. */
export function gpuPresent(): boolean {
  return existsSync('/dev/nvidiactl') || existsSync('/dev/nvidia0');
}

/**
 * Opens an ORT session on CUDA when asked for (or `auto` with a GPU present), and otherwise
 * on the CPU. A CUDA session that cannot be created falls back to the CPU with one log line.
 */
export async function openSession(
  modelFile: string,
  options: SessionOptions,
): Promise<{ session: InferenceSession; provider: Provider }> {
  if (!existsSync(modelFile)) throw new ModelPackageError(`model file ${modelFile} does not exist`);
  const base: InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    // Spinning intra-op threads burn the cores the worker's Redis traffic and the API need.
    extra: { session: { intra_op: { allow_spinning: options.spinning ? '1' : '0' } } },
    ...(options.intraOpNumThreads > 0 ? { intraOpNumThreads: options.intraOpNumThreads } : {}),
  };
  const wantCuda = options.device === 'cuda' || (options.device === 'auto' && gpuPresent());
  if (wantCuda) {
    try {
      const session = await InferenceSession.create(modelFile, {
        ...base,
        executionProviders: ['cuda', 'cpu'],
      });
      return { session, provider: 'cuda' };
    } catch (error) {
      options.log(`CUDA execution provider unavailable, falling back to CPU: ${firstLine(error)}`);
    }
  }
  try {
    const session = await InferenceSession.create(modelFile, {
      ...base,
      executionProviders: ['cpu'],
    });
    return { session, provider: 'cpu' };
  } catch (error) {
    throw new ModelPackageError(`model file ${modelFile} cannot be loaded: ${firstLine(error)}`);
  }
}

function firstLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error).split('\n')[0];
}
