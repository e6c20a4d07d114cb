/**
 * The model directory: model.onnx + tokenizer.json and/or vocab.txt + an optional embedder.json.
 *
 * embedder.json (all fields optional):
 *   output       name of the model output to use (default: last_hidden_state, else the only rank-3 float output)
 *   pooling      "none" — per-token vectors; the only value a token embedder accepts
 *   normalize    L2-normalize every vector by default (ColBERT does); loadEmbedder's option wins
 *   lowercase    for a vocab.txt-only directory: lowercase text first (default true, as bert-base-uncased)
 *   maxPositions how many positions the model has (maxTokens may not exceed it)
 *   maxTokens    default maxTokens for this model (e.g. sentence-transformers' max_seq_length)
 *   colbert      {marker, skipPunctuation, docMaxLen}: the model follows ColBERT's document conventions
 *                (conventions.ts); each field defaults to ColBERTv2's ("[unused1]", true, 220)
 *   modelId      default model id
 *   synthetic    true when the weights are random (generated): outputs and docs say so
 *   description, generator, files: informational (written by the generator)
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ModelLoadError } from './errors.ts';
import type { ColbertDeclaration } from './conventions.ts';

export const MODEL_FILE = 'model.onnx';
export const TOKENIZER_FILE = 'tokenizer.json';
export const VOCAB_FILE = 'vocab.txt';
export const CONFIG_FILE = 'embedder.json';

export interface ModelDirConfig {
  output?: string;
  pooling?: 'none';
  normalize?: boolean;
  lowercase?: boolean;
  maxPositions?: number;
  maxTokens?: number;
  colbert?: ColbertDeclaration;
  modelId?: string;
  synthetic?: boolean;
  description?: string;
  generator?: unknown;
  files?: Record<string, number>;
}

function fail(file: string, problem: string): never {
  throw new ModelLoadError(file, `${problem} (fix or delete ${file})`);
}

/** Validates a parsed embedder.json. */
export function parseModelDirConfig(raw: unknown, file: string): ModelDirConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(file, 'must hold a JSON object');
  const o = raw as Record<string, unknown>;
  const cfg: ModelDirConfig = {};
  const str = (k: string): string | undefined => {
    const v = o[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v === '') fail(file, `"${k}" must be a non-empty string`);
    return v;
  };
  const bool = (k: string): boolean | undefined => {
    const v = o[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') fail(file, `"${k}" must be true or false`);
    return v;
  };
  const output = str('output');
  if (output !== undefined) cfg.output = output;
  const pooling = str('pooling');
  if (pooling !== undefined) {
    if (pooling !== 'none') {
      fail(
        file,
        `"pooling": "${pooling}" is not supported: a token embedder keeps one vector per word piece ("none")`,
      );
    }
    cfg.pooling = 'none';
  }
  const normalize = bool('normalize');
  if (normalize !== undefined) cfg.normalize = normalize;
  const lowercase = bool('lowercase');
  if (lowercase !== undefined) cfg.lowercase = lowercase;
  const synthetic = bool('synthetic');
  if (synthetic !== undefined) cfg.synthetic = synthetic;
  const modelId = str('modelId');
  if (modelId !== undefined) cfg.modelId = modelId;
  const description = str('description');
  if (description !== undefined) cfg.description = description;
  if (o.maxPositions !== undefined) {
    const v = o.maxPositions;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 3)
      fail(file, '"maxPositions" must be an integer >= 3');
    cfg.maxPositions = v;
  }
  if (o.maxTokens !== undefined) {
    const v = o.maxTokens;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 3)
      fail(file, '"maxTokens" must be an integer >= 3');
    cfg.maxTokens = v;
  }
  if (o.colbert !== undefined) cfg.colbert = parseColbert(o.colbert, file);
  if (o.generator !== undefined) cfg.generator = o.generator;
  if (o.files !== undefined && typeof o.files === 'object' && o.files !== null) {
    cfg.files = o.files as Record<string, number>;
  }
  return cfg;
}

function parseColbert(v: unknown, file: string): ColbertDeclaration {
  if (v === true) return {};
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    fail(file, '"colbert" must be true or an object {marker, skipPunctuation, docMaxLen}');
  const o = v as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !['marker', 'skipPunctuation', 'docMaxLen'].includes(k));
  if (unknown.length > 0)
    fail(file, `"colbert" has unknown fields ${unknown.join(', ')} (marker, skipPunctuation, docMaxLen)`);
  const out: ColbertDeclaration = {};
  if (o.marker !== undefined) {
    if (o.marker !== null && (typeof o.marker !== 'string' || o.marker === ''))
      fail(file, '"colbert.marker" must be a token of the vocabulary (e.g. "[unused1]") or null');
    out.marker = o.marker;
  }
  if (o.skipPunctuation !== undefined) {
    if (typeof o.skipPunctuation !== 'boolean') fail(file, '"colbert.skipPunctuation" must be true or false');
    out.skipPunctuation = o.skipPunctuation;
  }
  if (o.docMaxLen !== undefined) {
    const n = o.docMaxLen;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 4)
      fail(file, '"colbert.docMaxLen" must be an integer >= 4');
    out.docMaxLen = n;
  }
  return out;
}

/** Reads embedder.json if present; {} when the directory has none. */
export async function readModelDirConfig(dir: string): Promise<ModelDirConfig> {
  const file = path.join(dir, CONFIG_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ModelLoadError(file, `cannot read: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    fail(file, `is not valid JSON: ${(e as Error).message}`);
  }
  return parseModelDirConfig(raw, file);
}

/** Which tokenizer file loadTokenizer will use: `file` if given, else the directory's tokenizer.json, else its
 *  vocab.txt; null when there is none. */
export async function tokenizerFileOf(dir: string, file?: string): Promise<string | null> {
  if (file !== undefined) return path.resolve(file);
  for (const name of [TOKENIZER_FILE, VOCAB_FILE]) {
    const f = path.join(dir, name);
    if ((await readIfExists(f)) !== null) return f;
  }
  return null;
}

/** A file's text, or null when it does not exist (another read error is a ModelLoadError naming the file). */
export async function readIfExists(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ModelLoadError(file, `cannot read: ${(e as Error).message}`, { cause: e });
  }
}
