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
  LAST_HIDDEN_STATE,
  PROJECTED_OUTPUT,
  buildSyntheticBert,
  type SyntheticBertSpec,
} from './synthetic/bert-onnx.ts';
import { bertTokenizerJson, parseVocabTxt, tinyVocab, vocabTxt } from './synthetic/vocab.ts';
import { CONFIG_FILE, MODEL_FILE, TOKENIZER_FILE, VOCAB_FILE, readModelDirConfig } from './model-dir.ts';
import { EmbedderError } from './errors.ts';

/** The real bert-base-uncased tokenizer shipped with the project (Apache-2.0, see its README). */
export const BERT_BASE_UNCASED_TOKENIZER_DIR = fileURLToPath(
  new URL('../../models/bert-base-uncased-tokenizer/', import.meta.url),
);

export type ModelPreset = 'bert-base' | 'small';
export type TokenizerChoice = 'bert-base-uncased' | 'tiny';

export interface GenerateModelOptions {
  /** 'bert-base' (default: hidden 768, 12 layers, 12 heads, intermediate 3072, 512 positions) or 'small'
   *  (hidden 32, 2 layers, 4 heads, intermediate 64, 512 positions) for tests. */
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

const PRESETS: Record<ModelPreset, Omit<SyntheticBertSpec, 'vocabSize' | 'seed'>> = {
  'bert-base': {
    hidden: 768,
    layers: 12,
    heads: 12,
    intermediate: 3072,
    maxPositions: 512,
    typeVocabSize: 2,
    initStd: 0.02,
    layerNormEps: 1e-12,
  },
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
};

export const DEFAULT_SEED = 20240611;

interface Plan {
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
    throw new EmbedderError(`unknown model preset "${String(preset)}" (bert-base, small)`);
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
  return { spec, tokenizer: opts.tokenizer ?? 'bert-base-uncased', normalize: opts.normalize ?? false };
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
    `generating a synthetic BERT-shaped encoder with RANDOM weights (hidden ${spec.hidden}, ${spec.layers} layers, ` +
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
    const config = {
      modelId: `synthetic-bert-h${spec.hidden}-l${spec.layers}${spec.projection ? `-p${spec.projection}` : ''}-seed${spec.seed}`,
      description:
        'SYNTHETIC model: a BERT-shaped encoder with random weights from a fixed seed, generated by datastate. ' +
        'Its vectors have the right shape and cost but carry no meaning; use a real exported model for real ' +
        'retrieval (docs/embedding.md).',
      synthetic: true,
      output: spec.projection !== undefined ? PROJECTED_OUTPUT : LAST_HIDDEN_STATE,
      pooling: 'none',
      normalize: plan.normalize,
      maxPositions: spec.maxPositions,
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
