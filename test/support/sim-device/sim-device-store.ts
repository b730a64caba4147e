import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MANIFEST_FILE, type ModelManifest } from '@app/handler/package';
import { shareFile } from '../model-store';
import { DEMO_MODEL } from '../paths';
import type { DeviceSpec } from './simulated-session';

/** The model name, version and folder of the simulated-device package in its store. */
export const SIM_DEVICE_MODEL = 'sim-device';
export const SIM_DEVICE_VERSION = '1';

/** The logits the device answers for every text, and so the label of every answer. */
export const SIM_DEVICE_LOGITS = [0.5, 1, 4, 2];
export const SIM_DEVICE_LABEL = 'Business';

export interface SimulatedDeviceOptions {
  /** Device time per padded token, in µs (default {@link DEFAULT_US_PER_PADDED_TOKEN}). */
  usPerPaddedToken?: number;
  /** Device time per pass besides its tokens, in µs (default {@link DEFAULT_PASS_OVERHEAD_US}). */
  passOverheadUs?: number;
  /** A file the device appends its passes to. */
  ledger?: string;
}

/** The device's speed unless told otherwise (see docs/benchmarks.md, "The simulated device"). */
export const DEFAULT_US_PER_PADDED_TOKEN = 6;
export const DEFAULT_PASS_OVERHEAD_US = 1500;

/**
 * The batching a GPU package gets (tools/minibert_onnx.py): many rows per pass, a large token
 * budget, lengths padded to multiples of 8. The pass overhead in tokens is the device's own.
 */
const GPU_BATCHING = {
  max_batch_size: 1024,
  max_batch_tokens: 32768,
  max_batch_delay_ms: 2,
  pad_to_multiple_of: 8,
};

/**
 * A temporary model store holding one package, `sim-device` version 1: the demo model's
 * vocabulary and length limit, AG News's labels, a GPU package's batching, and the simulated
 * device as its graph (a handler module, so it needs ALLOW_PACKAGE_CODE=true). The packer's pass
 * overhead is the device's, in tokens. `remove` deletes the store. The sessions of one process
 * share one device (see `DeviceTimeline`).
 */
export function simulatedDeviceStore(options: SimulatedDeviceOptions = {}) {
  const usPerPaddedToken = options.usPerPaddedToken ?? DEFAULT_US_PER_PADDED_TOKEN;
  const passOverheadUs = options.passOverheadUs ?? DEFAULT_PASS_OVERHEAD_US;
  const store = mkdtempSync(join(tmpdir(), 'modelfleet-sim-device-'));
  const dir = join(store, SIM_DEVICE_MODEL);
  mkdirSync(dir);
  const demo = JSON.parse(readFileSync(join(DEMO_MODEL, MANIFEST_FILE), 'utf8')) as ModelManifest;
  shareFile(join(DEMO_MODEL, 'vocab.txt'), join(dir, 'vocab.txt'));
  const device: DeviceSpec = {
    us_per_padded_token: usPerPaddedToken,
    pass_overhead_us: passOverheadUs,
    logits: SIM_DEVICE_LOGITS,
    ...(options.ledger ? { ledger: options.ledger } : {}),
  };
  writeFileSync(join(dir, 'device.json'), JSON.stringify(device, null, 2));
  // The handler lives in this repository's build; the package only points at it.
  writeFileSync(
    join(dir, 'handler.js'),
    `module.exports = require(${JSON.stringify(join(__dirname, 'simulated-device-handler.js'))});\n`,
  );
  const manifest = {
    name: SIM_DEVICE_MODEL,
    version: SIM_DEVICE_VERSION,
    handler: 'handler.js',
    model_file: 'device.json',
    vocab_file: 'vocab.txt',
    labels: ['World', 'Sports', 'Business', 'Sci/Tech'],
    max_length: demo.max_length,
    do_lower_case: demo.do_lower_case,
    batching: {
      ...GPU_BATCHING,
      pass_overhead_tokens:
        usPerPaddedToken > 0 ? Math.round(passOverheadUs / usPerPaddedToken) : 0,
    },
  };
  writeFileSync(join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2));
  return {
    store,
    dir,
    /** The package's batching, as its manifest says. */
    batching: manifest.batching,
    remove: () => rmSync(store, { recursive: true, force: true }),
  };
}
