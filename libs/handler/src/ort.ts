import { resolve } from 'node:path';
import type * as Ort from 'onnxruntime-node';

/** The onnxruntime-node module, as this process loaded it. */
export type OnnxRuntime = typeof Ort;

/**
 * Environment variable naming an onnxruntime-node package folder to load instead of the
 * installed one: the GPU build that `npm run gpu:prepare` places (its version matches the CUDA
 * provider libraries beside its binding). Read once, at the first use.
 */
export const ORT_NODE_PATH_ENV = 'ORT_NODE_PATH';

let runtime: OnnxRuntime | undefined;

/**
 * onnxruntime-node, loaded on first use (so processes that only read manifests never load the
 * native runtime): from `ORT_NODE_PATH` when set, else the installed package.
 */
export function onnxRuntime(): OnnxRuntime {
  if (!runtime) {
    const override = process.env[ORT_NODE_PATH_ENV];
    // A run-time choice of module: a static import cannot name it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    runtime = require(override ? resolve(override) : 'onnxruntime-node') as OnnxRuntime;
    // ORT's own logger would add its native error lines to ours (a missing CUDA library is
    // reported once, by openSession); failures still surface as exceptions.
    runtime.env.logLevel = 'fatal';
  }
  return runtime;
}

/** Version of the loaded onnxruntime-node, e.g. `1.29.0`. */
export function onnxRuntimeVersion(): string {
  return onnxRuntime().env.versions.node ?? onnxRuntime().env.versions.common;
}
