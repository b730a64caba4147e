import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Command, Option } from 'commander';
import { archiveCommand, type ArchiveOptions } from './archive-command';
import { importCommand, type ImportOptions } from './import-command';
import { predictCommand, readStdinLines, type PredictOptions } from './predict-command';
import { scoreCommand, type ScoreOptions } from './score-command';
import { serveCommand } from './serve/serve-command';

/** The version of the nearest package.json above this file: modelfleet's own. */
function packageVersion(): string {
  for (let dir = __dirname; dirname(dir) !== dir; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file))
      return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  }
  return 'unknown';
}

const program = new Command('modelfleet')
  .description('Queue-driven BERT serving: offline tools')
  .version(packageVersion(), '-V, --version', 'print the version of modelfleet')
  // `modelfleet --version` is modelfleet's; after a command, `--version` is that command's own
  // (archive's and score's model version).
  .enablePositionalOptions();

program
  .command('predict')
  .description(
    'classify texts with a model package in this process (no Redis); reads stdin lines when no text is given',
  )
  .requiredOption('-m, --model <package>', 'model package folder or archive')
  .addOption(
    new Option('--device <device>', 'execution provider')
      .choices(['auto', 'cuda', 'cpu'])
      .default('auto'),
  )
  .option('--threads <n>', 'ORT intra-op threads (0 = ORT default)', '0')
  .option('-p, --probabilities', 'include the full probability vector')
  .argument('[texts...]', 'texts to classify')
  .action(async (texts: string[], options: PredictOptions) => {
    const inputs = texts.length > 0 ? texts : await readStdinLines();
    const results = await predictCommand(inputs, options);
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  });

program
  .command('archive')
  .description('pack a model into a package archive (the counterpart of torch-model-archiver)')
  .option(
    '--from <package>',
    'start from this package (folder or archive): its manifest and files, which the options below replace; the same files and settings hash the same under another version',
  )
  .option('--model-name <name>', "model name (required without --from, else the package's)")
  .requiredOption('--version <version>', 'model version')
  .option('--model-file <file>', 'ONNX model file')
  .option(
    '--handler <handler>',
    'built-in handler name, or a JS module file (default: text-classification)',
  )
  .option('--tokenizer <file>', 'tokenizer.json')
  .option('--vocab <file>', 'WordPiece vocab.txt (when there is no tokenizer.json)')
  .option('--config <file>', 'config.json with id2label')
  .option('--labels <names>', 'comma-separated label names (instead of config.json)')
  .option('--max-length <n>', 'truncate texts to this many tokens')
  .option('--extra-files <files>', 'comma-separated extra files')
  .option('--batch-size <n>', 'most texts in one forward pass (manifest batching)')
  .option('--max-batch-tokens <n>', 'most padded tokens in one forward pass')
  .option('--max-batch-delay <ms>', 'longest wait for companions of a job, in ms')
  .option('--export-path <dir>', 'where to write <name>-<version>.tar.gz', '.')
  .option('-f, --force', 'overwrite an existing archive')
  .action(async (options: ArchiveOptions) => {
    process.stdout.write(`${await archiveCommand(options)}\n`);
  });

program
  .command('import')
  .description(
    'turn a TorchServe .mar, a PyTorch state_dict or a Hugging Face checkpoint folder (BERT ' +
      'sequence classifiers) into a model package, offline; nothing the source carries is run',
  )
  .argument(
    '<source>',
    '.mar (zip or tgz), .mar folder, checkpoint folder, or .pth/.bin/.safetensors',
  )
  .option('--out <dir>', 'package folder to write (default: models/<name>)')
  .option('--name <name>', "package name (default: the .mar's model name, or the folder's name)")
  .option('--version <version>', "package version (default: the .mar's version, or 1)")
  .option('--config <file>', 'Hugging Face config.json, for a bare state_dict')
  .option('--vocab <file>', 'WordPiece vocab.txt, when the source has none')
  .option('--tokenizer <file>', 'tokenizer.json, when the source has none')
  .option('--labels <names>', 'comma-separated label names in index order')
  .option(
    '--num-attention-heads <n>',
    'attention heads, when no config.json says (default: hidden / 64)',
  )
  .option('--max-length <n>', 'tokens per text, up to 512; longer texts are truncated')
  .option('--no-truncation', 'refuse texts longer than max-length instead of truncating them')
  .option('--cased', 'the vocabulary is cased (no lower-casing)')
  .option('--python <path>', 'Python with tools/requirements.txt (default: .venv, else python3)')
  .option('-f, --force', 'replace an existing package folder')
  .action(async (source: string, options: ImportOptions) => {
    process.stdout.write(`${await importCommand(source, options)}\n`);
  });

program
  .command('score')
  .description(
    'score a CSV or JSONL file through a running server, with progress; resumes if interrupted',
  )
  .argument('<file>', 'CSV (with a header row, or --columns) or JSONL file')
  .requiredOption(
    '--text <columns>',
    'column(s) that make the text, comma-separated (e.g. title,description)',
  )
  .requiredOption('--out <file>', 'results file: .jsonl, or .csv')
  .option('-m, --model <name>', 'model name', 'ag-news-bert')
  .option('--version <version>', 'model version (default: the default version)')
  .option('--id <column>', 'column holding the row id (default: the line number)')
  .option('--columns <names>', 'column names of a CSV file without a header row')
  .option('--label <column>', 'column holding the gold label, for accuracy')
  .option('--label-base <n>', 'first index of numeric gold labels (e.g. 1)')
  .option('--passthrough <columns>', 'columns copied to the results')
  .option('--chunk-size <n>', 'rows per chunk job')
  .option('--server <url>', 'inference API', process.env.MODELFLEET_URL ?? 'http://127.0.0.1:8080')
  .option('--api-key <key>', 'API key', process.env.API_KEY)
  .option('--poll-ms <ms>', 'progress refresh interval', '500')
  .option('--no-progress', 'no progress bar')
  .action(async (file: string, options: ScoreOptions) => {
    const batch = await scoreCommand(file, options);
    const accuracy = batch.summary?.accuracy;
    process.stderr.write(
      `${batch.status}: ${batch.counts.succeeded} scored, ${batch.counts.failed + batch.counts.invalid} failed` +
        (accuracy !== undefined ? `, accuracy ${(accuracy * 100).toFixed(2)}%` : '') +
        ` → ${options.out}\n`,
    );
  });

program
  .command('serve')
  .description(
    'run Redis (unless REDIS_URL is set), the API and autoscaled workers on this machine',
  )
  .option('--no-api', 'run only the worker supervisor')
  .action((options: { api: boolean }) => serveCommand(options));

program.parseAsync().catch((error: unknown) => {
  process.stderr.write(`modelfleet: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
