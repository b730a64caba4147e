import { createInterface } from 'node:readline';
import { classifyTexts, openModel, type DeviceChoice, packingLimits } from '@app/handler';

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
  const { pkg, handler } = await openModel(options.model, {
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
  }
}
