import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import { z } from 'zod';
import { ModelPackageError, describeIssues, onnxRuntime, type OpenedSession } from '@app/handler';
import { DeviceTimeline, epochNow } from './device-timeline';

/** How fast the simulated device is and what it answers: the package's `device.json`. */
export const deviceSpecSchema = z
  .object({
    /** Device time per padded token of a pass (rows × padded length), in µs. */
    us_per_padded_token: z.number().nonnegative(),
    /** Device time every pass pays besides its tokens (launches, copies), in µs. */
    pass_overhead_us: z.number().nonnegative(),
    /** The logits of every row, one per label. */
    logits: z.array(z.number()).min(2),
    /** A file the device appends one line per pass to (see {@link readDeviceLedger}). */
    ledger: z.string().min(1).optional(),
  })
  .strict();

export type DeviceSpec = z.infer<typeof deviceSpecSchema>;

/** One pass as the device saw it. */
export interface DevicePass {
  /** When the pass began on the device, in ms since the Unix epoch (fractional). */
  startedAt: number;
  /** Device time of the pass (what a GPU would have been busy for), in ms. */
  busyMs: number;
  /**
   * Time the calling thread stayed blocked, in ms: the busy time, the wait for the passes of
   * other sessions booked before it, and the thread's late wake-up.
   */
  blockedMs: number;
  rows: number;
  /** Rows × padded length. */
  paddedTokens: number;
}

/** Reads the spec a package's `device.json` holds; an error names the file and each bad key. */
export function readDeviceSpec(file: string): DeviceSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ModelPackageError(`device file ${file} is not readable JSON: ${String(error)}`);
  }
  const parsed = deviceSpecSchema.safeParse(raw);
  if (!parsed.success)
    throw new ModelPackageError(`device file ${file} is invalid: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** The passes a device's ledger holds, in the order they ran. */
export function readDeviceLedger(file: string): DevicePass[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [startedAt, busyMs, blockedMs, rows, paddedTokens] = line.split('\t').map(Number);
      return { startedAt, busyMs, blockedMs, rows, paddedTokens };
    });
}

/**
 * A forward pass as a GPU looks from the host: `run` blocks its thread, without using the CPU
 * (`Atomics.wait`), for `pass_overhead_us + us_per_padded_token × rows × padded length`, then
 * answers the same logits for every row. It takes the inputs and gives the output the built-in
 * text classifier feeds and reads, so everything around the pass is the real handler's. The
 * sessions of one process share one device ({@link DeviceTimeline}), as a worker's sessions
 * (each on its own CUDA stream) share its GPU: a pass submitted while another runs waits for it,
 * so one session's host work overlaps another's pass, and the device is never busy twice over.
 */
export class SimulatedSession implements InferenceSession {
  readonly inputNames = ['input_ids', 'attention_mask', 'token_type_ids'];
  readonly outputNames = ['logits'];
  readonly inputMetadata: InferenceSession.ValueMetadata[];
  readonly outputMetadata: InferenceSession.ValueMetadata[];
  /** Never notified: the thread waits on it for the length of a pass. */
  private readonly idle = new Int32Array(new SharedArrayBuffer(4));
  private ledger?: number;
  private readonly device = new DeviceTimeline();

  constructor(private readonly spec: DeviceSpec) {
    const shape = ['batch', 'sequence'];
    this.inputMetadata = this.inputNames.map((name) => ({
      name,
      isTensor: true,
      type: 'int64',
      shape,
    }));
    this.outputMetadata = [
      { name: 'logits', isTensor: true, type: 'float32', shape: ['batch', spec.logits.length] },
    ];
    if (spec.ledger) this.ledger = openSync(spec.ledger, 'a');
  }

  async run(feeds: InferenceSession.FeedsType): Promise<InferenceSession.ReturnType> {
    const ids = feeds.input_ids;
    if (!ids || ids.dims.length !== 2)
      throw new Error('the simulated device needs input_ids of shape [rows, length]');
    const [rows, length] = ids.dims;
    const busyMs =
      (this.spec.pass_overhead_us + this.spec.us_per_padded_token * rows * length) / 1000;
    const called = epochNow();
    const startedAt = this.device.book(busyMs);
    const end = startedAt + busyMs;
    for (let left = end - called; left > 0; left = end - epochNow())
      Atomics.wait(this.idle, 0, 0, left);
    const blockedMs = epochNow() - called;
    if (this.ledger !== undefined)
      writeSync(this.ledger, `${startedAt}\t${busyMs}\t${blockedMs}\t${rows}\t${rows * length}\n`);
    const width = this.spec.logits.length;
    const logits = new Float32Array(rows * width);
    for (let row = 0; row < rows; row++) logits.set(this.spec.logits, row * width);
    return { logits: new (onnxRuntime().Tensor)('float32', logits, [rows, width]) };
  }

  async release(): Promise<void> {
    if (this.ledger !== undefined) closeSync(this.ledger);
    this.ledger = undefined;
  }

  startProfiling(): void {}

  endProfiling(): void {}
}

/**
 * Opens the simulated device a package's `model_file` (its `device.json`) describes, in the
 * place of an ONNX Runtime session. A relative ledger path is the package folder's.
 */
export async function openSimulatedDevice(file: string): Promise<OpenedSession> {
  const spec = readDeviceSpec(file);
  const ledger = spec.ledger && resolve(file, '..', spec.ledger);
  // No GPU is involved: provenance and metrics say so.
  return { session: new SimulatedSession({ ...spec, ledger }), provider: 'cpu' };
}
