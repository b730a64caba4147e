import { createInterface } from 'node:readline';
import { z } from 'zod';
import { boolSetting, parseEnv } from '@app/common';
import { classifyTexts, openModel, type DeviceChoice, packingLimits } from '@app/handler';

/** Settings `modelfleet predict` reads: it runs a package in this process, as a worker does. */
export const predictSettings = z.object({ ALLOW_PACKAGE_CODE: boolSetting(false) });

export interface PredictOptions {
  model: string;
  device: DeviceChoice;
  threads: string;
  probabilities?: boolean;
}

/** Reads one text per non-empty line of standard input. */
export async function readStdinLines(): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim()) lines.push(line);
  }
  return lines;
}

/** Classifies texts with the package's handler, in this process, and returns the results. */
export async function predictCommand(texts: string[], options: PredictOptions): Promise<unknown[]> {
  const { ALLOW_PACKAGE_CODE } = parseEnv(predictSettings);
  const { pkg, handler } = await openModel(options.model, {
    allowPackageCode: ALLOW_PACKAGE_CODE,
    device: options.device,
    intraOpNumThreads: Number(options.threads),
  });
  try {
    const limits = packingLimits(pkg.manifest.batching);
    const outcome = await classifyTexts(handler, texts, limits, {
      probabilities: options.probabilities,
    });
    return outcome.results;
  } finally {
    await handler.dispose();
    await pkg.release();
  }
}
