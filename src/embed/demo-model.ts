/**
 * Generated model directories: a synthetic (random-weight) BERT-shaped encoder in ONNX, its tokenizer and an
 * embedder.json that says `"synthetic": true`. Used at runtime as the demo/default model (BERT-base shape with
 * the real bert-base-uncased tokenizer shipped in models/) and by tests (small shapes).
 *
 * Generation is atomic: everything is written into a fresh sibling temp directory which is then renamed onto
 * the target, so an interrupted generation never leaves a half-written model behind.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  GENERATOR_VERSION,
  buildSyntheticBert,
  tokenOutputOf,
  type SyntheticBertSpec,
} from './synthetic/bert-onnx.ts';
import { COLBERT_V2_DOC_MAXLEN, COLBERT_V2_MARKER } from './conventions.ts';
import { bertTokenizerJson, parseVocabTxt, tinyVocab, vocabTxt } from './synthetic/vocab.ts';
import { CONFIG_FILE, MODEL_FILE, TOKENIZER_FILE, VOCAB_FILE, readModelDirConfig } from './model-dir.ts';
import { EmbedderError } from './errors.ts';

/** The real bert-base-uncased tokenizer shipped with the project (Apache-2.0, see its README). */
export const BERT_BASE_UNCASED_TOKENIZER_DIR = fileURLToPath(
  new URL('../../models/bert-base-uncased-tokenizer/', import.meta.url),
);

export const MODEL_PRESETS = ['bert-base', 'small', 'distilbert', 'minilm-l6', 'colbertv2'] as const;
export type ModelPreset = (typeof MODEL_PRESETS)[number];
export type TokenizerChoice = 'bert-base-uncased' | 'tiny';

export interface GenerateModelOptions {
  /** 'bert-base' (default: hidden 768, 12 layers, 12 heads, intermediate 3072, 512 positions), 'small'
   *  (hidden 32, 2 layers, 4 heads, intermediate 64, 512 positions) for tests, or the interface of a real
   *  export: 'distilbert', 'minilm-l6', 'colbertv2' (docs/embedding.md, "Model presets"). */
  preset?: ModelPreset;
  /** 'bert-base-uncased' (default: the real 30,522-piece tokenizer) or 'tiny' (~270 generated pieces). */
  tokenizer?: TokenizerChoice;
  seed?: number;
  hidden?: number;
  layers?: number;
  heads?: number;
  intermediate?: number;
  maxPositions?: number;
  initStd?: number;
  /** Adds a ColBERT-style linear head with this output size and makes it the embedder's output. */
  projection?: number;
  /** Written into embedder.json as the default for L2 normalization. */
  normalize?: boolean;
  /** Called with progress messages (generation of BERT-base takes seconds). */
  onProgress?: (message: string) => void;
}

const BERT_BASE: Omit<SyntheticBertSpec, 'vocabSize' | 'seed'> = {
  hidden: 768,
  layers: 12,
  heads: 12,
  intermediate: 3072,
  maxPositions: 512,
  typeVocabSize: 2,
  initStd: 0.02,
  layerNormEps: 1e-12,
};

const PRESETS: Record<ModelPreset, Omit<SyntheticBertSpec, 'vocabSize' | 'seed'>> = {
  'bert-base': BERT_BASE,
  small: {
    hidden: 32,
    layers: 2,
    heads: 4,
    intermediate: 64,
    maxPositions: 512,
    typeVocabSize: 2,
    initStd: 0.1,
    layerNormEps: 1e-12,
  },
  // distilbert-base-uncased (DistilBertConfig: dim 768, n_layers 6, n_heads 12, hidden_dim 3072) as
  // `optimum-cli export onnx --task feature-extraction` writes it.
  distilbert: { ...BERT_BASE, layers: 6, family: 'distilbert', opset: 14 },
  // sentence-transformers/all-MiniLM-L6-v2 (BertModel: hidden 384, 6 layers, 12 heads, intermediate 1536) as
  // `optimum-cli export onnx --library sentence_transformers` writes it.
  'minilm-l6': {
    ...BERT_BASE,
    hidden: 384,
    layers: 6,
    intermediate: 1536,
    family: 'sentence-transformers',
    opset: 14,
  },
  // colbert-ir/colbertv2.0: BERT-base + Linear(768, 128, bias=False), exported with torch.onnx (opset 17).
  colbertv2: { ...BERT_BASE, projection: 128, family: 'colbert', opset: 17 },
};

/** The shape of a preset (before hidden/layers/... overrides). */
export function presetShape(preset: ModelPreset): Omit<SyntheticBertSpec, 'vocabSize' | 'seed'> {
  return { ...PRESETS[preset] };
}

/** embedder.json fields a preset's real export comes with (docs/embedding.md says how to write them). */
function presetConfig(preset: ModelPreset, spec: SyntheticBertSpec): Record<string, unknown> {
  if (preset === 'colbertv2')
    return {
      colbert: { marker: COLBERT_V2_MARKER, skipPunctuation: true, docMaxLen: COLBERT_V2_DOC_MAXLEN },
    };
  // sentence_bert_config.json of all-MiniLM-L6-v2: max_seq_length 256.
  if (preset === 'minilm-l6') return { maxTokens: Math.min(256, spec.maxPositions) };
  return {};
}

export const DEFAULT_SEED = 20240611;

interface Plan {
  preset: ModelPreset;
  spec: SyntheticBertSpec;
  tokenizer: TokenizerChoice;
  normalize: boolean;
}

async function loadVocab(
  choice: TokenizerChoice,
): Promise<{ vocab: string[]; tokenizerJson: string; vocabText: string }> {
  if (choice === 'tiny') {
    const vocab = tinyVocab();
    return { vocab, tokenizerJson: JSON.stringify(bertTokenizerJson(vocab)), vocabText: vocabTxt(vocab) };
  }
  const tokenizerJson = await readFile(path.join(BERT_BASE_UNCASED_TOKENIZER_DIR, TOKENIZER_FILE), 'utf8');
  const vocabText = await readFile(path.join(BERT_BASE_UNCASED_TOKENIZER_DIR, VOCAB_FILE), 'utf8');
  return { vocab: parseVocabTxt(vocabText), tokenizerJson, vocabText };
}

function planOf(opts: GenerateModelOptions, vocabSize: number): Plan {
  const preset = opts.preset ?? 'bert-base';
  const base = PRESETS[preset];
  if (base === undefined)
    throw new EmbedderError(`unknown model preset "${String(preset)}" (${MODEL_PRESETS.join(', ')})`);
  const spec: SyntheticBertSpec = {
    ...base,
    vocabSize,
    seed: opts.seed ?? DEFAULT_SEED,
    ...(opts.hidden !== undefined && { hidden: opts.hidden }),
    ...(opts.layers !== undefined && { layers: opts.layers }),
    ...(opts.heads !== undefined && { heads: opts.heads }),
    ...(opts.intermediate !== undefined && { intermediate: opts.intermediate }),
    ...(opts.maxPositions !== undefined && { maxPositions: opts.maxPositions }),
    ...(opts.initStd !== undefined && { initStd: opts.initStd }),
    ...(opts.projection !== undefined && { projection: opts.projection }),
  };
  return {
    preset,
    spec,
    tokenizer: opts.tokenizer ?? 'bert-base-uncased',
    // ColBERT normalizes its document vectors (ColBERT.doc); the others' token vectors are not normalized.
    normalize: opts.normalize ?? preset === 'colbertv2',
  };
}

function generatorRecord(plan: Plan): Record<string, unknown> {
  return {
    name: 'datastate-synthetic-bert',
    version: GENERATOR_VERSION,
    tokenizer: plan.tokenizer,
    spec: plan.spec,
  };
}

function sameRecord(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** True when `dir` already holds a complete generated model made from this plan (sizes checked, cheap). */
async function isComplete(dir: string, plan: Plan): Promise<boolean> {
  const cfg = await readModelDirConfig(dir);
  if (cfg.synthetic !== true || !sameRecord(cfg.generator, generatorRecord(plan))) return false;
  for (const [name, size] of Object.entries(cfg.files ?? {})) {
    try {
      if ((await stat(path.join(dir, name))).size !== size) return false;
    } catch {
      return false;
    }
  }
  return cfg.files !== undefined && MODEL_FILE in cfg.files;
}

/**
 * Makes sure `dir` holds the generated model described by `opts` (default: the BERT-base-shaped demo model with
 * the real bert-base-uncased tokenizer) and returns its absolute path. Cheap (a stat and a small JSON read)
 * when the model is already there. Never overwrites a directory holding anything else: it throws instead.
 */
export async function ensureDemoModel(dir: string, opts: GenerateModelOptions = {}): Promise<string> {
  const target = path.resolve(dir);
  const { vocab, tokenizerJson, vocabText } = await loadVocab(opts.tokenizer ?? 'bert-base-uncased');
  const plan = planOf(opts, vocab.length);
  if (await exists(target)) {
    if (await isComplete(target, plan)) return target;
    throw new EmbedderError(
      `${target} exists but does not hold the requested generated model (different settings, an older ` +
        `generator, or not a generated model at all); delete it or choose another directory`,
    );
  }

  const started = Date.now();
  const say = opts.onProgress ?? (() => {});
  const { spec } = plan;
  say(
    `generating a synthetic ${plan.preset} encoder with RANDOM weights (hidden ${spec.hidden}, ${spec.layers} layers, ` +
      `${spec.heads} heads, vocab ${spec.vocabSize}, seed ${spec.seed}) into ${target}`,
  );
  await mkdir(path.dirname(target), { recursive: true });
  const tmp = `${target}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
  await mkdir(tmp);
  try {
    const model = buildSyntheticBert(spec);
    await writeFile(path.join(tmp, MODEL_FILE), model);
    await writeFile(path.join(tmp, TOKENIZER_FILE), tokenizerJson);
    await writeFile(path.join(tmp, VOCAB_FILE), vocabText);
    const family = spec.family === undefined ? 'bert' : plan.preset;
    const config = {
      modelId: `synthetic-${family}-h${spec.hidden}-l${spec.layers}${spec.projection ? `-p${spec.projection}` : ''}-seed${spec.seed}`,
      description:
        'SYNTHETIC model: a BERT-shaped encoder with random weights from a fixed seed, generated by datastate. ' +
        'Its vectors have the right shape and cost but carry no meaning; use a real exported model for real ' +
        'retrieval (docs/embedding.md).',
      synthetic: true,
      output: tokenOutputOf(spec),
      pooling: 'none',
      normalize: plan.normalize,
      maxPositions: spec.maxPositions,
      ...presetConfig(plan.preset, spec),
      generator: generatorRecord(plan),
      files: {
        [MODEL_FILE]: model.byteLength,
        [TOKENIZER_FILE]: Buffer.byteLength(tokenizerJson),
        [VOCAB_FILE]: Buffer.byteLength(vocabText),
      },
    };
    await writeFile(path.join(tmp, CONFIG_FILE), JSON.stringify(config, null, 2) + '\n');
    try {
      await rename(tmp, target);
    } catch (e) {
      // Someone else finished first (rename onto a non-empty directory fails): keep theirs if it is complete.
      if (await isComplete(target, plan)) return target;
      throw e;
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  say(`generated ${target} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return target;
}
