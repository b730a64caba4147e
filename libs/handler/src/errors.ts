/**
 * Typed errors of the handler library. Each says whether a retry can help:
 * an input error never retries (the worker fails the job for good, the API answers 4xx),
 * an inference error may retry, a package error stops the process before it consumes anything.
 */

/** What every typed error of the handler library says: whether a retry can help. */
export interface HandlerError extends Error {
  readonly retryable: boolean;
}

/** The input itself is wrong (not a string, empty, too many items). Retrying cannot help. */
export class HandlerInputError extends Error {
  override readonly name = 'HandlerInputError';
  readonly retryable = false;
}

/** The engine failed while running a batch. A retry on the same or another worker may succeed. */
export class InferenceError extends Error {
  override readonly name = 'InferenceError';
  readonly retryable = true;
}

/** A model package is unusable: missing file, bad manifest, graph that does not match the handler. */
export class ModelPackageError extends Error {
  override readonly name = 'ModelPackageError';
  readonly retryable = false;
}
