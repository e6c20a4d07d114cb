/**
 * The composition root: builds the engine's dependencies (store, source, model) from a spec. The one place
 * where adapters are chosen, shared by the CLI and the controller.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ValidationError } from '../api/validate.ts';
import type { DatasetStateSpec } from '../api/schema.ts';
import type { EngineDeps } from '../heal/reconcile.ts';
import type { EngineListener } from '../heal/events.ts';
import { inProcessBatchRunner } from '../heal/batch-runner.ts';
import { backoffPolicyOf } from '../heal/retry.ts';
import { openStore } from '../store/index.ts';
// Only the fingerprint is read on every pass; the corpus readers (tar, saxes), the embedder (onnxruntime-node,
// the tokenizer library) and the demo model's generator are imported on the paths that use them, so a no-op
// validate or plan does not load them (test/unit/cli-module-graph.test.ts).
import { modelFingerprint } from '../embed/model-fingerprint.ts';

/** Where the embedded defaults live: the SQLite file, the generated model. */
export function dataHome(): string {
  return resolve(process.env.DATASTATE_HOME ?? '.datastate');
}

/** What to tell the user when the model has random weights. */
export function syntheticModelNote(modelId: string): string {
  return (
    `the model ${modelId} is SYNTHETIC: a BERT-shaped encoder with random weights (fixed seed) and the real ` +
    'bert-base-uncased tokenizer. Its vectors have the real shape and cost but no meaning; point --model (MODEL=) ' +
    'at an exported encoder for real embeddings (see docs/embedding.md).'
  );
}

/** The model directory the spec names, or the generated demo model (generated on first use). */
export async function resolveModelDir(
  spec: DatasetStateSpec,
  onNote?: (message: string) => void,
): Promise<string> {
  if (spec.embedding.modelPath) return resolve(spec.embedding.modelPath);
  const dir = join(dataHome(), 'models', 'synthetic-bert-base');
  const { ensureDemoModel } = await import('../embed/demo-model.ts');
  return ensureDemoModel(dir, { onProgress: (m) => onNote?.(m) });
}

/**
 * Paths the spec names on this machine must exist, whether or not this pass needs them: a typo in --source
 * or --model is an error now, not when the dataset next drifts.
 */
export function checkLocalPaths(spec: DatasetStateSpec): void {
  const problems: string[] = [];
  if (spec.source.path && !existsSync(spec.source.path))
    problems.push(`source.path: ${spec.source.path} does not exist`);
  if (spec.embedding.modelPath && !existsSync(spec.embedding.modelPath))
    problems.push(`embedding.modelPath: ${spec.embedding.modelPath} does not exist`);
  if (spec.embedding.tokenizerPath && !existsSync(spec.embedding.tokenizerPath))
    problems.push(`embedding.tokenizerPath: ${spec.embedding.tokenizerPath} does not exist`);
  if (problems.length) throw new ValidationError(problems);
}

export interface Wired {
  deps: EngineDeps;
  close(): Promise<void>;
}

export interface WireOptions {
  /** The database URL when it does not come from spec.database.url (e.g. read from a Secret). */
  databaseUrl?: string;
  /**
   * How the model runs: session threads and onnxruntime intra-op threads per session (default: the
   * embedder's, from the cores this process sees). Not part of the fingerprint: it does not change the vectors.
   */
  parallelism?: { sessions?: number; threads?: number };
  /** The process is asked to stop: the store ends lock waits at once (src/store/clients/sqlite.ts). */
  signal?: AbortSignal;
}

export async function wire(
  spec: DatasetStateSpec,
  onEvent: EngineListener,
  onNote: (message: string) => void,
  options: WireOptions = {},
): Promise<Wired> {
  checkLocalPaths(spec);
  const dbUrl =
    options.databaseUrl ??
    spec.database.url ??
    (spec.database.dialect === 'sqlite' ? join(dataHome(), 'datastate.db') : undefined);
  const store = await openStore({
    ...spec.database,
    url: dbUrl,
    readOnly: spec.mode !== 'AutoFix',
    signal: options.signal,
    onLockWait: onNote,
  });
  let modelDir: string | null = null;
  const model = async () => (modelDir ??= await resolveModelDir(spec, onNote));
  // The fingerprint covers the settings that change the vectors: both calls must get the same options.
  const embedderOptions = {
    dimension: spec.embedding.dimension,
    maxTokens: spec.embedding.maxTokens,
    stride: spec.embedding.stride,
    normalize: spec.embedding.normalize,
    keepSpecialTokens: spec.embedding.keepSpecialTokens,
    conventions: spec.embedding.conventions,
    modelId: spec.embedding.modelId,
    tokenizerPath: spec.embedding.tokenizerPath,
  };
  const deps: EngineDeps = {
    store,
    onEvent,
    openSource: async () => {
      const { openSource } = await import('../corpus/index.ts');
      const source = openSource({ type: spec.source.type, path: spec.source.path });
      if (source.synthetic)
        onNote(
          'the document source is SYNTHETIC: generated English-like abstracts, not real text (give --source / SOURCE= for real documents)',
        );
      return source;
    },
    modelFingerprint: async () => modelFingerprint(await model(), embedderOptions),
    openEmbedder: async () => {
      const dir = await model();
      const { loadEmbedder } = await import('../embed/onnx-embedder.ts');
      const embedder = await loadEmbedder(dir, { ...embedderOptions, ...options.parallelism });
      if (embedder.synthetic) onNote(syntheticModelNote(embedder.modelId));
      return embedder;
    },
    // Late-bound: a caller that replaces deps.openEmbedder (the benchmarks do) is used here too.
    openBatchRunner: async () =>
      inProcessBatchRunner({
        store,
        embedder: await deps.openEmbedder(),
        backoff: backoffPolicyOf(spec),
        concurrency: spec.healing.concurrency,
      }),
  };
  return { deps, close: () => store.close() };
}
