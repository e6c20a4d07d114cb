/**
 * `datastate model inspect DIR`: what a model directory holds and what the embedder will make of it, with the
 * problems that would stop a heal (the same checks loadEmbedder makes before the model runs).
 */
import path from 'node:path';
import { MODEL_FILE, readModelDirConfig } from './model-dir.ts';
import { readModelGraph, type TensorInfo } from './model-graph.ts';
import {
  modelFingerprint,
  modelProblems,
  resolveSettings,
  specialTokens,
  type EmbedderOptions,
} from './onnx-embedder.ts';
import { loadTokenizer } from './tokenizer.ts';

export interface ModelReport {
  modelDir: string;
  synthetic: boolean;
  opset: number | null;
  producer: string;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  tokenOutput: { name: string; reason: string } | null;
  dimension: number | string | null;
  maxPositions: number | null;
  modelVocabulary: number | null;
  tokenizer: {
    file: string;
    vocabulary: number;
    prefix: string[];
    suffix: string[];
    pad: string | undefined;
  };
  settings: { maxTokens: number; keepSpecialTokens: boolean; normalize: boolean };
  conventions: {
    marker: string | null;
    skipPunctuation: boolean;
    docMaxLen: number;
    skiplist: number;
  } | null;
  fingerprint: string | null;
  problems: string[];
}

export async function inspectModelDir(dir: string, options: EmbedderOptions = {}): Promise<ModelReport> {
  const modelDir = path.resolve(dir);
  const cfg = await readModelDirConfig(modelDir);
  const modelFile = path.join(modelDir, MODEL_FILE);
  const graph = await readModelGraph(modelFile);
  const tokenizer = await loadTokenizer(modelDir, {
    ...(cfg.lowercase !== undefined && { lowercase: cfg.lowercase }),
    ...(options.tokenizerPath !== undefined && { file: options.tokenizerPath }),
  });
  const settings = resolveSettings(cfg, options);
  const { problems, output } = modelProblems(graph, modelFile, tokenizer, cfg, settings);
  const special = (() => {
    try {
      return specialTokens(tokenizer, settings.conventions);
    } catch (e) {
      problems.push(e as Error);
      return null;
    }
  })();
  const chosen = output ? graph.outputs.find((o) => o.name === output.name) : undefined;
  const dimension = chosen ? (chosen.shape[2] ?? null) : null;
  if (options.dimension !== undefined && typeof dimension === 'number' && dimension !== options.dimension)
    problems.push(
      new Error(`the model gives ${dimension}-dimensional vectors but ${options.dimension} is declared`),
    );
  let fingerprint: string | null = null;
  if (problems.length === 0) fingerprint = await modelFingerprint(modelDir, options);
  return {
    modelDir,
    synthetic: cfg.synthetic === true,
    opset: graph.opset,
    producer: graph.producer,
    inputs: graph.inputs,
    outputs: graph.outputs,
    tokenOutput: output,
    dimension,
    maxPositions: graph.positionRows ?? cfg.maxPositions ?? null,
    modelVocabulary: graph.vocabRows,
    tokenizer: {
      file: tokenizer.file,
      vocabulary: tokenizer.vocabSize,
      prefix: special?.prefix.tokens ?? tokenizer.prefix.tokens,
      suffix: special?.suffix.tokens ?? tokenizer.suffix.tokens,
      pad: tokenizer.tokenOf(tokenizer.padId),
    },
    settings: {
      maxTokens: settings.maxTokens,
      keepSpecialTokens: settings.keepSpecialTokens,
      normalize: settings.normalize,
    },
    conventions: settings.conventions && { ...settings.conventions, skiplist: special?.skip?.size ?? 0 },
    fingerprint,
    problems: problems.map((p) => p.message),
  };
}

const shape = (t: TensorInfo) => `${t.name} ${t.type} [${t.shape.join(', ')}]`;

export function modelReportText(r: ModelReport): string {
  const lines = [
    `model directory  ${r.modelDir}${r.synthetic ? '  (SYNTHETIC: random weights)' : ''}`,
    `opset            ${r.opset ?? 'unknown'}${r.producer ? `  (producer ${r.producer})` : ''}`,
    `inputs           ${r.inputs.map(shape).join('; ')}`,
    `outputs          ${r.outputs.map(shape).join('; ')}`,
    `token vectors    ${r.tokenOutput ? `${r.tokenOutput.name}: ${r.tokenOutput.reason}` : 'none usable'}`,
    `dimension        ${r.dimension ?? 'unknown'}`,
    `max positions    ${r.maxPositions ?? 'unknown'}`,
    `vocabulary       model ${r.modelVocabulary ?? 'unknown'}, tokenizer ${r.tokenizer.vocabulary} (${r.tokenizer.file})`,
    `special tokens   ${[...r.tokenizer.prefix, '…', ...r.tokenizer.suffix].join(' ')}; pad ${r.tokenizer.pad ?? '?'}`,
    `settings         maxTokens ${r.settings.maxTokens}, keepSpecialTokens ${r.settings.keepSpecialTokens}, normalize ${r.settings.normalize}`,
    `conventions      ${
      r.conventions
        ? `ColBERT: marker ${r.conventions.marker ?? 'none'}, punctuation ${r.conventions.skipPunctuation ? `skipped (${r.conventions.skiplist} ids)` : 'kept'}, docMaxLen ${r.conventions.docMaxLen}, L2-normalized`
        : 'none'
    }`,
    `fingerprint      ${r.fingerprint ?? '(not computed: fix the problems first)'}`,
  ];
  if (r.problems.length > 0) lines.push('problems:', ...r.problems.map((p) => `  - ${p}`));
  return lines.join('\n');
}
