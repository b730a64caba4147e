/**
 * The peer a Node user would pick: transformers.js (`@huggingface/transformers`), which runs the
 * same onnxruntime-node 1.30 but tokenizes in JavaScript and leaves batching to its caller.
 */
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { env, pipeline } from '@huggingface/transformers';
import type { InferenceSession } from 'onnxruntime-node';
import { TextTokenizer, loadModelPackage } from '@app/handler';

/** How a transformers.js pipeline is run; without options it runs with the library's defaults. */
export interface TransformersJsOptions {
  /**
   * ORT session options, merged over what transformers.js sets (only `executionProviders:
   * ['cpu']` and a log level): pass `intraOpNumThreads` or `extra.session.intra_op.allow_spinning`
   * to match modelfleet's session for a like-for-like comparison.
   */
  readonly sessionOptions?: InferenceSession.SessionOptions;
  /** Texts classified (as one batch) before the clock starts; default 8. */
  readonly warmupTexts?: number;
}

/**
 * Lays a modelfleet package out as a local transformers.js model folder in `outDir`:
 * `config.json` (labels and `model_type`), `tokenizer.json` (written by the server's own
 * tokenizer from the package's vocabulary), `tokenizer_config.json` and `onnx/model.onnx`
 * (a symlink to the package's graph, so the folder stays small). Overwrites those files.
 */
export async function prepareTransformersJsModel(
  packageDir: string,
  outDir: string,
): Promise<void> {
  const { dir, manifest, labels } = await loadModelPackage(packageDir);
  if (!manifest.model_file) throw new Error(`${packageDir}: the manifest names no model_file`);
  mkdirSync(join(outDir, 'onnx'), { recursive: true });

  const config = manifest.config_file ? readJson(join(dir, manifest.config_file)) : {};
  writeJson(join(outDir, 'config.json'), {
    model_type: 'bert',
    architectures: ['BertForSequenceClassification'],
    ...config,
    id2label: Object.fromEntries(labels.map((label, id) => [String(id), label])),
    label2id: Object.fromEntries(labels.map((label, id) => [label, id])),
  });

  const tokenizer = await TextTokenizer.load(
    manifest.tokenizer_file
      ? { tokenizerFile: join(dir, manifest.tokenizer_file) }
      : {
          vocabFile: join(dir, manifest.vocab_file ?? 'vocab.txt'),
          lowercase: manifest.do_lower_case,
        },
    manifest.max_length,
  );
  const tokenizerFile = join(outDir, 'tokenizer.json');
  tokenizer.save(tokenizerFile);
  // transformers.js truncates and pads itself (from model_max_length below); its JS tokenizer
  // ignores these two fields, so clearing them only keeps the file honest about who does it.
  writeJson(tokenizerFile, { ...readJson(tokenizerFile), truncation: null, padding: null });
  writeJson(join(outDir, 'tokenizer_config.json'), {
    tokenizer_class: 'BertTokenizer',
    do_lower_case: manifest.do_lower_case,
    model_max_length: manifest.max_length,
    cls_token: '[CLS]',
    sep_token: '[SEP]',
    pad_token: '[PAD]',
    unk_token: '[UNK]',
    mask_token: '[MASK]',
  });

  const link = join(outDir, 'onnx', 'model.onnx');
  rmSync(link, { force: true });
  symlinkSync(resolve(dir, manifest.model_file), link);
}

/**
 * Classifies `texts` with a transformers.js `text-classification` pipeline on the CPU (fp32,
 * local files only), in consecutive batches of `batchSize` in input order, as a user would
 * (`await classifier(batch)`, top-1). Returns the seconds of that loop (loading and warm-up
 * excluded) and the predicted label id of each text, mapped back through `id2label`.
 */
export async function runTransformersJs(
  modelDir: string,
  texts: readonly string[],
  batchSize: number,
  options: TransformersJsOptions = {},
): Promise<{ seconds: number; labels: number[] }> {
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.useFSCache = false;
  env.useBrowserCache = false;
  const dir = resolve(modelDir);
  const classifier = await pipeline('text-classification', dir, {
    local_files_only: true,
    dtype: 'fp32',
    device: 'cpu',
    session_options: options.sessionOptions ?? {},
  });
  const { id2label } = readJson(join(dir, 'config.json')) as { id2label: Record<string, string> };
  const idOf = new Map(Object.entries(id2label).map(([id, label]) => [label, Number(id)]));
  try {
    const warmup = texts.slice(0, options.warmupTexts ?? 8);
    if (warmup.length) await classifier(warmup);
    const labels: number[] = [];
    const start = performance.now();
    for (let i = 0; i < texts.length; i += batchSize) {
      for (const { label } of await classifier(texts.slice(i, i + batchSize))) {
        const id = idOf.get(label);
        if (id === undefined) throw new Error(`transformers.js answered unknown label ${label}`);
        labels.push(id);
      }
    }
    return { seconds: (performance.now() - start) / 1000, labels };
  } finally {
    await classifier.dispose();
  }
}

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

function writeJson(file: string, value: unknown): void {
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}
