/**
 * A model directory's fingerprint without loading the model: sha256 over its files and the settings that change
 * the vectors. Kept apart from onnx-embedder.ts so that reading it (a no-op validate or plan) does not load
 * onnxruntime-node, the tokenizer library or the ONNX protobuf reader.
 */
import path from 'node:path';
import { stat } from 'node:fs/promises';
import type { EmbedderOptions } from './onnx-embedder.ts';
import { EmbedderOptionsError, ModelLoadError } from './errors.ts';
import { fileDigests, manifestDigest } from './fingerprint.ts';
import {
  MODEL_FILE,
  TOKENIZER_FILE,
  VOCAB_FILE,
  readModelDirConfig,
  tokenizerFileOf,
  type ModelDirConfig,
} from './model-dir.ts';
import { resolveConventions, type ColbertConventions } from './conventions.ts';

/** Settings that change the vectors, resolved the same way for loadEmbedder, the fingerprint and inspect. */
export interface ResolvedSettings {
  maxTokens: number;
  stride: number | null;
  keepSpecialTokens: boolean;
  normalize: boolean;
  output: string | null;
  conventions: ColbertConventions | null;
}

export function resolveSettings(cfg: ModelDirConfig, options: EmbedderOptions): ResolvedSettings {
  const conventions = resolveConventions(options.conventions ?? 'auto', cfg.colbert);
  if (conventions !== null && options.normalize === false) {
    throw new EmbedderOptionsError(
      'normalize: false contradicts the ColBERT conventions this model declares (ColBERT L2-normalizes every ' +
        'document vector); set embedding.conventions: none for raw vectors, or leave normalize on',
    );
  }
  return {
    maxTokens:
      options.maxTokens ?? conventions?.docMaxLen ?? cfg.maxTokens ?? Math.min(512, cfg.maxPositions ?? 512),
    stride: options.stride ?? null,
    keepSpecialTokens: options.keepSpecialTokens ?? conventions !== null,
    normalize: conventions !== null ? true : (options.normalize ?? cfg.normalize ?? false),
    output: cfg.output ?? null,
    conventions,
  };
}

export async function fingerprintOf(
  dir: string,
  cfg: ModelDirConfig,
  tokenizerFile: string,
  options: EmbedderOptions,
): Promise<string> {
  const rel = path.relative(dir, tokenizerFile);
  const files = [MODEL_FILE, rel.startsWith('..') || path.isAbsolute(rel) ? tokenizerFile : rel];
  for (const extra of ['model.onnx.data', 'model.onnx_data']) {
    try {
      await stat(path.join(dir, extra));
      files.push(extra);
    } catch {
      // no external weights file
    }
  }
  let digests: Record<string, string>;
  try {
    digests = await fileDigests(dir, files);
  } catch (e) {
    throw new ModelLoadError(dir, `cannot hash the model files: ${(e as Error).message}`, { cause: e });
  }
  // Keyed by file name only: where the files live does not change the vectors, their content does.
  const byName = Object.fromEntries(Object.entries(digests).map(([f, h]) => [path.basename(f), h]));
  const vocab = tokenizerFile.endsWith('.txt');
  const { conventions, ...settings } = resolveSettings(cfg, options);
  return manifestDigest({
    fingerprintVersion: 1,
    files: byName,
    ...settings,
    // Only present when in force, so fingerprints of models without conventions stay what they were.
    ...(conventions !== null && { conventions }),
    lowercase: vocab ? (cfg.lowercase ?? true) : null,
  });
}

/**
 * The fingerprint loadEmbedder(modelDir, options).fingerprint will have, without loading the model: sha256 over
 * the model and tokenizer files (cached by size and mtime) and the settings that change the vectors (maxTokens,
 * stride, keepSpecialTokens, normalize, output, ColBERT conventions). Pass the same options as to loadEmbedder.
 */
export async function modelFingerprint(modelDir: string, options: EmbedderOptions = {}): Promise<string> {
  const dir = path.resolve(modelDir);
  const cfg = await readModelDirConfig(dir);
  const tokenizerFile = await tokenizerFileOf(dir, options.tokenizerPath);
  if (tokenizerFile === null) {
    throw new ModelLoadError(
      dir,
      `no tokenizer: the model directory needs a ${TOKENIZER_FILE} or a ${VOCAB_FILE}`,
    );
  }
  try {
    await stat(path.join(dir, MODEL_FILE));
  } catch {
    throw new ModelLoadError(path.join(dir, MODEL_FILE), `missing: a model directory needs ${MODEL_FILE}`);
  }
  return fingerprintOf(dir, cfg, tokenizerFile, options);
}
