/**
 * The datastate command line (loaded by main.ts, the entry point): ensure / validate / plan a dataset's state, generate the demo model.
 * Exit codes: 0 the target state holds; 1 it does not; 2 bad input or configuration; 130 interrupted.
 */
import { Command, CommanderError, Option } from 'commander';
import type { DatasetStateSpec } from '../api/schema.ts';
import { ValidationError } from '../api/validate.ts';
import { reconcileRetrying } from '../heal/retry-pass.ts';
import { isConfigError } from './errors.ts';
import { jsonErrorReport, jsonReport, progressRenderer, textReport } from './render.ts';
import { redactSecrets } from '../store/url.ts';
import { specFromFlags, type EnsureFlags } from './spec-from-flags.ts';
import { parseEnv, parseLabels, parseResources } from './worker-flags.ts';
import { DEFAULT_WORKER_RESOURCES } from '../controller/worker-manifests.ts';
import { wire } from '../app/wiring.ts';
import type { ConventionChoice } from '../embed/conventions.ts';
import type { ModelPreset } from '../embed/demo-model.ts';
import type { QuantScheme } from '../embed/quantize.ts';

export const EXIT = { ready: 0, notReady: 1, badInput: 2, interrupted: 130 } as const;

/** ~360 word pieces per abstract (docs/corpus.md: mean 359.8) at ~1,000 tokens/s: the BERT-base-shaped model on 2 cores. */
const DEMO_SECONDS_PER_DOCUMENT = 0.36;

interface CommonFlags extends EnsureFlags {
  output: 'text' | 'json';
  quiet?: boolean;
}

/** Set by --debug (anywhere on the command line): errors then print their stack. */
let debug = false;

/** The exit code an error means: 2 for bad input or configuration, 1 for anything else. */
export function exitCodeOf(e: unknown): number {
  return e instanceof ValidationError || isConfigError(e) ? EXIT.badInput : EXIT.notReady;
}

/** One line (`datastate: error: ...`), secrets removed; the stack too with --debug. */
export function errorLine(e: unknown): string {
  const err = e as Error;
  const message = redactSecrets(err?.message ?? String(e))
    .split('; ')
    .join('\n  ');
  const stack = debug && err?.stack ? `\n${redactSecrets(err.stack)}` : '';
  return `datastate: error: ${message}${stack}\n`;
}

/** The JSON report of a run that ended in an error (`--output json` always prints one). */
function writeJsonError(kind: string, message: string, exitCode: number): void {
  const report = jsonErrorReport({ kind, message: redactSecrets(message), exitCode }, { notes: [] });
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
}

/** `--output json` / `--output=json` on the command line, for errors found before any action runs. */
function wantsJson(argv: readonly string[]): boolean {
  return argv.some((a, i) => a === '--output=json' || (a === '--output' && argv[i + 1] === 'json'));
}

async function runEnsure(flags: CommonFlags, defaultMode: DatasetStateSpec['mode']): Promise<number> {
  if (flags.output !== 'json') return runEnsureChecked(flags, defaultMode);
  try {
    return await runEnsureChecked(flags, defaultMode);
  } catch (e) {
    const exitCode = exitCodeOf(e);
    writeJsonError((e as Error)?.name ?? 'Error', (e as Error)?.message ?? String(e), exitCode);
    process.stderr.write(errorLine(e));
    return exitCode;
  }
}

async function runEnsureChecked(flags: CommonFlags, defaultMode: DatasetStateSpec['mode']): Promise<number> {
  const { spec, name } = specFromFlags(flags, defaultMode);
  const json = flags.output === 'json';
  const notes: string[] = [];
  const progress = progressRenderer({ tty: Boolean(process.stderr.isTTY), quiet: Boolean(flags.quiet) });
  const note = (m: string) => {
    if (!notes.includes(m)) {
      notes.push(m);
      progress.note(m);
    }
  };
  const abort = new AbortController();
  let interrupted = false;
  const onSignal = (sig: string) => {
    if (interrupted) process.exit(EXIT.interrupted);
    interrupted = true;
    progress.stop();
    process.stderr.write(
      `\n${sig}: stopping after the batch in flight; every finished batch is saved. Run again to resume.\n`,
    );
    abort.abort(new Error(`interrupted by ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const wired = await wire(spec, (e) => progress.onEvent(e), note, { signal: abort.signal });
  try {
    const result = await reconcileRetrying(spec, wired.deps, {
      signal: abort.signal,
      secondsPerDocument: spec.embedding.modelPath ? undefined : DEMO_SECONDS_PER_DOCUMENT,
      calibrate: spec.mode === 'DryRun',
    });
    progress.stop();
    const ctx = {
      name,
      targetState: spec.targetState,
      docCount: spec.docCount,
      mode: spec.mode,
      store: wired.deps.store.description,
      notes,
    };
    process.stdout.write(
      json ? JSON.stringify(jsonReport(result, ctx), null, 2) + '\n' : textReport(result, ctx) + '\n',
    );
    if (interrupted) return EXIT.interrupted;
    return result.ready ? EXIT.ready : EXIT.notReady;
  } catch (e) {
    // Stopped by the signal while waiting (e.g. for a database lock): what was committed stays.
    if (interrupted) {
      process.stderr.write(`stopped: ${redactSecrets((e as Error)?.message ?? String(e))}\n`);
      return EXIT.interrupted;
    }
    throw e;
  } finally {
    progress.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await wired.close();
  }
}

function ensureOptions(cmd: Command, withModes: boolean): Command {
  cmd
    .option('-f, --file <manifest>', 'DatasetState manifest (YAML); flags override its spec')
    .option('--target-state <state>', 'ragas-eval | token-embeddings | documents (default ragas-eval)')
    .option('--doc-count <n>', 'documents in the target set')
    .option(
      '--source <path>',
      'PMC JATS XML directory or .tar.gz, or a .jsonl file (default: a SYNTHETIC generated corpus)',
    )
    .option(
      '--db <url>',
      'database: a SQLite file path, sqlite:PATH, postgres://... or iris:<ODBC string> (default $DATASTATE_HOME/datastate.db, i.e. .datastate/datastate.db)',
    )
    .option(
      '--model <dir>',
      'model directory: model.onnx + tokenizer.json (default: the generated SYNTHETIC BERT-base model)',
    )
    .option('--dimension <n>', 'declared vector dimension (default 768)')
    .option(
      '--vector-precision <p>',
      'float32 (default) or float16: how the token table stores vectors (SQLite BLOB, pgvector halfvec)',
    )
    .option('--batch-size <n>', 'documents per batch, or auto')
    .option('--order-by <order>', 'doc_id | newest | random')
    .option('--seed <n>', 'seed for --order-by random')
    .option('--force-regenerate', 're-embed every document of the target set')
    .addOption(new Option('--output <format>', 'text or json').choices(['text', 'json']).default('text'))
    .option('-q, --quiet', 'no progress output');
  if (withModes)
    cmd
      .option('--auto-fix', 'heal whatever is missing (default)')
      .option('--validate-only', 'check only; write nothing')
      .option('--dry-run', 'print the healing plan; write nothing');
  return cmd;
}

export function buildProgram(): Command {
  const program = new Command('datastate')
    .description(
      'Declarative, self-healing RAG evaluation datasets: converge documents and token embeddings to a declared state.',
    )
    .option('--debug', 'print the stack of an unexpected error')
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(s) });
  ensureOptions(
    program
      .command('ensure')
      .description('bring the dataset to the declared state (AutoFix unless told otherwise)'),
    true,
  ).action(async (flags: CommonFlags) => {
    process.exitCode = await runEnsure(flags, 'AutoFix');
  });
  ensureOptions(
    program
      .command('validate')
      .description('run the checks and report; writes nothing (exit 1 when a check fails)'),
    false,
  ).action(async (flags: CommonFlags) => {
    process.exitCode = await runEnsure({ ...flags, validateOnly: true }, 'ValidateOnly');
  });
  ensureOptions(
    program
      .command('plan')
      .description('print the healing plan: what, how many, batches, estimated time; writes nothing'),
    false,
  ).action(async (flags: CommonFlags) => {
    process.exitCode = await runEnsure({ ...flags, dryRun: true }, 'DryRun');
  });
  program
    .command('gen-model')
    .description(
      'generate the SYNTHETIC BERT-shaped demo model (random weights, fixed seed) into a directory',
    )
    .argument('<dir>', 'model directory to create')
    .addOption(
      new Option(
        '--preset <preset>',
        'bert-base, small (tests), or the interface of a real export: distilbert, minilm-l6, colbertv2',
      )
        .choices(['bert-base', 'small', 'distilbert', 'minilm-l6', 'colbertv2'])
        .default('bert-base'),
    )
    .action(async (dir: string, opts: { preset: ModelPreset }) => {
      const { ensureDemoModel } = await import('../embed/index.ts');
      const out = await ensureDemoModel(dir, {
        preset: opts.preset,
        onProgress: (m) => process.stderr.write(m + '\n'),
      });
      process.stdout.write(`${out}\n`);
    });
  const modelCommand = program.command('model').description('model directories');
  modelCommand
    .command('inspect')
    .description(
      'inputs, outputs, the token-vector output and why, dimension, positions, vocabularies, special tokens, ' +
        'conventions, fingerprint; exit 2 when the model cannot be used',
    )
    .argument('<dir>', 'model directory')
    .option('--tokenizer <file>', 'tokenizer.json or vocab.txt outside the model directory')
    .addOption(
      new Option('--conventions <c>', 'auto, colbert or none')
        .choices(['auto', 'colbert', 'none'])
        .default('auto'),
    )
    .option('--max-tokens <n>', 'maxTokens to check against the model')
    .option('--dimension <n>', 'declared dimension to check against the model')
    .addOption(new Option('--output <format>', 'text or json').choices(['text', 'json']).default('text'))
    .action(
      async (
        dir: string,
        f: {
          tokenizer?: string;
          conventions: ConventionChoice;
          maxTokens?: string;
          dimension?: string;
          output: string;
        },
      ) => {
        const { inspectModelDir, modelReportText } = await import('../embed/index.ts');
        const int = (name: string, v: string | undefined) => {
          if (v === undefined) return undefined;
          if (!/^\d+$/.test(v))
            throw new ValidationError([`--${name}: must be a positive integer (got ${JSON.stringify(v)})`]);
          return Number(v);
        };
        const maxTokens = int('max-tokens', f.maxTokens);
        const dimension = int('dimension', f.dimension);
        const report = await inspectModelDir(dir, {
          conventions: f.conventions,
          ...(f.tokenizer !== undefined && { tokenizerPath: f.tokenizer }),
          ...(maxTokens !== undefined && { maxTokens }),
          ...(dimension !== undefined && { dimension }),
        });
        process.stdout.write(
          (f.output === 'json' ? JSON.stringify(report, null, 2) : modelReportText(report)) + '\n',
        );
        if (report.problems.length > 0) {
          process.stderr.write(
            `datastate: ${dir} cannot be used:\n${report.problems.map((p) => `  ${p}`).join('\n')}\n`,
          );
          process.exitCode = EXIT.badInput;
        }
      },
    );
  modelCommand
    .command('compare')
    .description(
      'embed the same documents with two models (e.g. fp32 and its int8 quantization) and print the ' +
        'per-token cosine (mean, 1st percentile, min) and MaxSim rank agreement',
    )
    .argument('<a>', 'model directory A (the reference, e.g. fp32)')
    .argument('<b>', 'model directory B (e.g. the output of datastate quantize)')
    .option(
      '--source <path>',
      'PMC JATS XML directory or .tar.gz, or a .jsonl file (default: a SYNTHETIC generated corpus)',
    )
    .option('--docs <n>', 'documents with an abstract to embed (the first N of the source)', '200')
    .option('--queries <n>', 'MaxSim queries cut from the documents', '20')
    .addOption(new Option('--output <format>', 'text or json').choices(['text', 'json']).default('text'))
    .action(
      async (a: string, b: string, f: { source?: string; docs: string; queries: string; output: string }) => {
        const { compareModels, compareReportText } = await import('../embed/quantize-compare.ts');
        const { openSource } = await import('../corpus/index.ts');
        const docs = positiveInt('docs', f.docs);
        const queries = positiveInt('queries', f.queries);
        const texts: { docId: string; text: string }[] = [];
        const source = openSource(f.source === undefined ? {} : { path: f.source });
        for await (const item of source.items()) {
          if (item.ok && item.doc.abstract.trim() !== '')
            texts.push({ docId: item.doc.docId, text: item.doc.abstract });
          if (texts.length >= docs) break;
        }
        const report = await compareModels(a, b, texts, { queries });
        process.stdout.write(
          (f.output === 'json'
            ? JSON.stringify({ ...report, syntheticSource: source.synthetic }, null, 2)
            : compareReportText(report) + (source.synthetic ? '\nnote: the documents are SYNTHETIC' : '')) +
            '\n',
        );
      },
    );
  program
    .command('quantize')
    .description(
      'write a dynamic int8 quantization of a model directory (MatMul/Gemm weights to 8 bits, per-channel ' +
        'scales; activations quantized at run time) as a new model directory; see docs/embedding.md',
    )
    .argument('<in>', 'model directory with an fp32 model.onnx')
    .argument('<out>', 'new model directory to create')
    .addOption(
      new Option(
        '--scheme <scheme>',
        'u8s8-7bit: int8 weights in [-63, 63], exact on x86-64 CPUs without VNNI; u8s8: full int8 (may saturate without VNNI); u8u8',
      )
        .choices(['u8s8-7bit', 'u8s8', 'u8u8'])
        .default('u8s8-7bit'),
    )
    .option('--per-tensor', 'one scale per weight matrix instead of one per output channel')
    .action(async (input: string, out: string, f: { scheme: QuantScheme; perTensor?: boolean }) => {
      const { quantizeModelDir } = await import('../embed/quantize-dir.ts');
      const r = await quantizeModelDir(input, out, { scheme: f.scheme, perChannel: !f.perTensor });
      const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
      process.stderr.write(
        `quantized ${r.quantizedNodes} MatMul/Gemm nodes (${r.quantizedWeights.toLocaleString('en')} weights to 8 bits, ` +
          `${r.floatWeights.toLocaleString('en')} stay float32; ${r.scheme}, ${r.perChannel ? 'per-channel' : 'per-tensor'}): ` +
          `model.onnx ${mb(r.bytesIn)} -> ${mb(r.bytesOut)}; check it with: datastate model compare ${input} ${out} --source ...\n`,
      );
      process.stdout.write(`${r.outDir}\n`);
    });
  program
    .command('controller')
    .description('run the Kubernetes controller: watch DatasetStates and converge them')
    .option('--kubeconfig <path>', 'kubeconfig (default: in-cluster, else KUBECONFIG / ~/.kube/config)')
    .option('--namespaces <list>', 'comma-separated namespaces to watch (default: all)', '')
    .option('--resync <seconds>', 're-check every dataset this often', '300')
    .option('--concurrency <n>', 'controller passes at once, and heals (AutoFix) at once', '2')
    .option('--metrics-port <port>', '/metrics, /healthz, /readyz port (0: any free port)', '8080')
    .option('--metrics-host <host>', 'address to listen on', '0.0.0.0')
    .option('--leader-elect', 'elect a leader through a Lease so only one replica heals')
    .option('--lease-namespace <ns>', 'namespace of the Lease', process.env.POD_NAMESPACE ?? 'default')
    .option('--lease-name <name>', 'name of the Lease', 'datastate-controller')
    .option('--lease-duration <seconds>', 'Lease duration', '15')
    .option('--status-every <seconds>', 'minimum seconds between two status writes while healing', '3')
    .option('--grace-period <seconds>', 'how long SIGTERM waits for running passes', '25')
    .option('--workers', 'embed on a worker Deployment per DatasetState (default: in the controller process)')
    .option(
      '--worker-image <image>',
      'worker image when the spec names none',
      process.env.DATASTATE_IMAGE ?? 'ghcr.io/datastate/datastate:0.1.0',
    )
    .option(
      '--worker-model-claim <pvc>',
      'PersistentVolumeClaim with the models, mounted read-only in the workers',
    )
    .option('--worker-model-mount <path>', 'where the model claim is mounted', '/models')
    .option('--batches-per-worker <n>', 'replicas = ceil(backlog batches / this)', '4')
    .option('--worker-in-flight <n>', 'batches in flight per worker endpoint', '1')
    .option('--worker-ready-timeout <seconds>', 'how long a pass waits for a first ready worker', '300')
    .addOption(
      new Option('--worker-image-pull-policy <policy>', 'imagePullPolicy of the worker container').choices([
        'Always',
        'IfNotPresent',
        'Never',
      ]),
    )
    .option(
      '--worker-resources <json>',
      "worker container resources (JSON) for what a DatasetState's spec.workers.resources does not name",
    )
    .option(
      '--worker-network-policy-pod-labels <labels>',
      'write a NetworkPolicy per worker Deployment admitting only Pods with these labels (k=v,k=v) to the batch API',
    )
    .option(
      '--worker-network-policy-namespace <ns>',
      "namespace of those Pods (the controller's)",
      process.env.POD_NAMESPACE,
    )
    .option('--worker-pdb', 'write a PodDisruptionBudget (maxUnavailable 1) per worker Deployment')
    .option(
      '--worker-env <NAME=VALUE>',
      'an environment variable of the worker container (repeatable)',
      (v: string, all: string[]) => [...all, v],
      [] as string[],
    )
    .action(async (f: Record<string, string | string[] | boolean | undefined>) => {
      const { runController } = await import('../controller/run.ts');
      const num = (name: string, v: unknown) => {
        const n = Number(v);
        if (!Number.isFinite(n) || n < 0)
          throw new ValidationError([`--${name}: must be a non-negative number (got ${JSON.stringify(v)})`]);
        return n;
      };
      const workerPolicy = () => {
        if (!f.workerNetworkPolicyPodLabels) return undefined;
        const podLabels = parseLabels(String(f.workerNetworkPolicyPodLabels));
        if (!f.workerNetworkPolicyNamespace)
          throw new ValidationError([
            '--worker-network-policy-namespace: needed with --worker-network-policy-pod-labels (or POD_NAMESPACE)',
          ]);
        return { namespace: String(f.workerNetworkPolicyNamespace), podLabels };
      };
      process.exitCode = await runController({
        kubeconfig: f.kubeconfig as string | undefined,
        namespaces: String(f.namespaces ?? '')
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
        resyncSeconds: num('resync', f.resync),
        concurrency: Math.max(1, num('concurrency', f.concurrency)),
        metricsPort: num('metrics-port', f.metricsPort),
        metricsHost: String(f.metricsHost),
        leaderElect: Boolean(f.leaderElect),
        leaseNamespace: String(f.leaseNamespace),
        leaseName: String(f.leaseName),
        leaseDurationSeconds: Math.max(1, num('lease-duration', f.leaseDuration)),
        statusEverySeconds: num('status-every', f.statusEvery),
        gracePeriodSeconds: num('grace-period', f.gracePeriod),
        workers: f.workers
          ? {
              image: String(f.workerImage),
              modelClaim: f.workerModelClaim as string | undefined,
              modelMountPath: String(f.workerModelMount),
              batchesPerWorker: Math.max(1, num('batches-per-worker', f.batchesPerWorker)),
              inFlightPerEndpoint: Math.max(1, num('worker-in-flight', f.workerInFlight)),
              readyTimeoutMs: num('worker-ready-timeout', f.workerReadyTimeout) * 1000,
              maxAttempts: 5,
              port: 8080,
              imagePullPolicy: f.workerImagePullPolicy as 'Always' | 'IfNotPresent' | 'Never' | undefined,
              resources: f.workerResources
                ? parseResources(String(f.workerResources))
                : DEFAULT_WORKER_RESOURCES,
              networkPolicy: workerPolicy(),
              podDisruptionBudget: Boolean(f.workerPdb),
              extraEnv: parseEnv(f.workerEnv as string[]),
            }
          : undefined,
      });
    });
  program
    .command('worker')
    .description('run an embedding worker: an authenticated HTTP service that embeds and writes batches')
    .option('--port <port>', 'port for the API, /metrics, /healthz, /readyz (0: any free port)', '8080')
    .option('--host <host>', 'address to listen on', '0.0.0.0')
    .option(
      '--spec-json <json>',
      'the dataset spec as JSON (default: DATASTATE_WORKER_SPEC, else the flags below)',
    )
    .option('--model <dir>', 'model directory')
    .option('--dimension <n>', 'declared vector dimension')
    .option('--db <url>', 'database URL (credentials: prefer DATASTATE_DB_URL)')
    .option(
      '--token-file <path>',
      'file with the bearer token(s), one per line (default: DATASTATE_WORKER_TOKEN)',
    )
    .option('--max-in-flight <n>', 'batches processed at once; more get 429', '1')
    .option(
      '--drain-timeout <seconds>',
      'SIGTERM: new batches get 503 while the ones in flight finish, at most this long',
      '600',
    )
    .option('--body-timeout <seconds>', 'a batch body must arrive within this, else 408', '10')
    .action(async (f: Record<string, string | undefined>) => {
      const { runWorker, workerSpecFromJson } = await import('../worker/run.ts');
      const json = f.specJson ?? process.env.DATASTATE_WORKER_SPEC;
      const spec = json
        ? workerSpecFromJson(json)
        : specFromFlags({ docCount: '1', model: f.model, dimension: f.dimension, db: f.db }).spec;
      if (json && f.model) spec.embedding.modelPath = f.model;
      if (json && f.db) spec.database.url = f.db;
      const port = Number(f.port);
      const maxInFlight = Number(f.maxInFlight);
      if (!Number.isInteger(port) || port < 0)
        throw new ValidationError([`--port: must be a port number (got ${JSON.stringify(f.port)})`]);
      if (!Number.isInteger(maxInFlight) || maxInFlight < 1)
        throw new ValidationError([
          `--max-in-flight: must be an integer >= 1 (got ${JSON.stringify(f.maxInFlight)})`,
        ]);
      const seconds = (name: string, v: string | undefined) => {
        const n = Number(v);
        if (!Number.isFinite(n) || n <= 0)
          throw new ValidationError([
            `--${name}: must be a positive number of seconds (got ${JSON.stringify(v)})`,
          ]);
        return n * 1000;
      };
      process.exitCode = await runWorker({
        port,
        host: String(f.host),
        spec,
        tokenFile: f.tokenFile,
        maxInFlight,
        drainTimeoutMs: seconds('drain-timeout', f.drainTimeout),
        bodyTimeoutMs: seconds('body-timeout', f.bodyTimeout),
      });
    });
  return program;
}

function positiveInt(name: string, v: string): number {
  if (!/^\d+$/.test(v) || Number(v) < 1)
    throw new ValidationError([`--${name}: must be a positive integer (got ${JSON.stringify(v)})`]);
  return Number(v);
}

export async function main(argv: string[]): Promise<number> {
  debug = argv.includes('--debug');
  argv = argv.filter((a) => a !== '--debug');
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) return 0;
      // Commander has printed its message (unknown option, missing argument, bad choice) on stderr.
      if (wantsJson(argv)) writeJsonError('UsageError', e.message.replace(/^error: /, ''), EXIT.badInput);
      return EXIT.badInput;
    }
    process.stderr.write(errorLine(e));
    return exitCodeOf(e);
  }
}
