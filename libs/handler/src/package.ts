/**
 * The light entry of the handler library: reading and validating model packages (manifest,
 * files, labels, archives) and the typed errors, without onnxruntime-node or tokenizers.
 * Processes that only read packages (the API, a worker's main thread) import this one.
 */
export type { Prediction } from './handler';
export * from './archive';
export * from './errors';
export * from './manifest';
export * from './model-package';
export * from './package-hash';
export * from './packing';
export * from './store-paths';
export * from './row-scores';
