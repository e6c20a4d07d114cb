/**
 * The token embedder: one forward pass per document (or per window of a long document) through a BERT-family
 * ONNX encoder with onnxruntime-node, keeping the contextual vector of every word piece, as ColBERT does.
 */
import os from 'node:os';
import path from 'node:path';
import { stat } from 'node:fs/promises';
import type { Embedder, EmbedInput } from '../core/ports.ts';
import type { EmbedOutcome } from '../core/types.ts';
import { DimensionMismatchError, EmbedderError, EmbedderOptionsError, ModelLoadError } from './errors.ts';
import { MODEL_FILE, readModelDirConfig, type ModelDirConfig } from './model-dir.ts';
import { assignOwners, groupBatches, planWindows, type BatchLimits, type Window } from './plan.ts';
import { loadTokenizer, type LoadedTokenizer, type Pieces } from './tokenizer.ts';
import { fingerprintOf, resolveSettings, type ResolvedSettings } from './model-fingerprint.ts';
import { punctuationSkiplist, type ColbertConventions, type ConventionChoice } from './conventions.ts';
import { checkInputs, chooseTokenOutput, readModelGraph, type ModelGraph } from './model-graph.ts';
import { localBackend, sessionThreadsBackend, type Backend } from './backend.ts';
import type { RunResult } from './session.ts';

export { modelFingerprint, resolveSettings, type ResolvedSettings } from './model-fingerprint.ts';

export interface EmbedderOptions {
  /** The declared dimension (spec.embedding.dimension). When set and the model's differs, loadEmbedder throws
   *  DimensionMismatchError, before anything is embedded or written. */
  dimension?: number;
  /** Most tokens per model input, special tokens included (default: ColBERT's docMaxLen under its
   *  conventions, else embedder.json's maxTokens, else 512 or the model's positions if fewer). */
  maxTokens?: number;
  /** When set, documents longer than maxTokens are cut into overlapping windows whose starts are `stride`
   *  word pieces apart (see docs/embedding.md); when unset they are truncated to their first pieces. */
  stride?: number;
  /** Keep vectors for the special tokens ([CLS], the ColBERT marker, [SEP]) around the text (default: true
   *  under ColBERT's conventions, which keep them; else false: word pieces only). */
  keepSpecialTokens?: boolean;
  /** L2-normalize every vector. Default: embedder.json's "normalize", else false; always on under ColBERT's
   *  conventions (false is then an error). */
  normalize?: boolean;
  /** ColBERT's document conventions (conventions.ts): 'auto' (default) when embedder.json declares them,
   *  'colbert' always, 'none' never. */
  conventions?: ConventionChoice;
  /** A tokenizer.json or vocab.txt outside the model directory to use instead of its own
   *  (spec.embedding.tokenizerPath). */
  tokenizerPath?: string;
  /** Model id reported (default: embedder.json's modelId, else the directory name). */
  modelId?: string;
  /** Session threads (Node worker threads), each running its own session (default: one per core, at most 4). 0 runs the model on
   *  the calling thread, blocking its event loop during each batch. See docs/embedding.md, "Parallelism". */
  sessions?: number;
  /** onnxruntime intra-op threads per session (default: cores / sessions, at least 1). */
  threads?: number;
  /** Batching limits (defaults: 8 sequences, max(512, maxTokens) padded tokens, 5% padding per sequence). */
  maxBatchSize?: number;
  maxBatchTokens?: number;
  maxPadFraction?: number;
}

/** What a loaded embedder resolved its settings to (for logs and docs). */
export interface EmbedderInfo {
  modelDir: string;
  modelFile: string;
  tokenizerFile: string;
  output: string;
  maxTokens: number;
  stride: number | undefined;
  keepSpecialTokens: boolean;
  normalize: boolean;
  /** ColBERT's document conventions in force, or null. */
  conventions: ColbertConventions | null;
  sessions: number;
  threads: number;
  batch: BatchLimits;
  description: string | undefined;
}

/** Counters since load: what the model was fed. */
export interface EmbedderStats {
  /** session.run calls (the load-time probe not counted). */
  runs: number;
  /** Sequences (documents or windows) fed. */
  sequences: number;
  /** Real (non-pad) tokens fed, special tokens included. */
  tokens: number;
  /** Pad positions fed (masked; they never produce vectors). */
  paddedTokens: number;
}

/** The Embedder port plus what this implementation can tell about itself. */
export interface TokenEmbedder extends Embedder {
  readonly info: EmbedderInfo;
  readonly stats: EmbedderStats;
}

interface DocWork {
  index: number;
  docId: string;
  tokens: string[];
  ids: number[];
  windows: Window[];
  owner: Int32Array | null;
  /** For each kept word piece, its row in the output (special tokens first when kept), or -1 (skipped). */
  row: Int32Array;
  /** Number of output vectors. */
  count: number;
  /** Whether every word piece of the one window gives a vector: the document's vectors are then one contiguous
   *  range of its output row, taken as a view of the model's output (no copy). */
  contiguous: boolean;
  /** Filled by collect: a view of the output (contiguous) or a copy of the kept positions. */
  vectors: Float32Array | null;
}

interface Seq {
  doc: DocWork;
  window: number;
  length: number;
}

/** Default session threads: one per core, at most this many (each holds a copy of the model). */
const MAX_DEFAULT_SESSIONS = 4;

/**
 * Batching defaults. Measured on 2 cores (docs/embedding.md): batching long sequences gives no speed, batching
 * short ones a few percent, and with one session per thread a big batch leaves the other session threads idle at the end
 * of a call. So a batch holds at most maxTokens padded tokens: one long document, or several short ones.
 */
const DEFAULT_LIMITS: BatchLimits = { maxBatchSize: 8, maxBatchTokens: 512, maxPadFraction: 0.05 };

function positiveInt(name: string, v: number | undefined): void {
  if (v !== undefined && (!Number.isInteger(v) || v < 1)) {
    throw new EmbedderOptionsError(`${name} must be a positive integer, got ${v}`);
  }
}

class OnnxTokenEmbedder implements TokenEmbedder {
  readonly stats: EmbedderStats = { runs: 0, sequences: 0, tokens: 0, paddedTokens: 0 };
  readonly modelId: string;
  readonly fingerprint: string;
  readonly dimension: number;
  readonly synthetic: boolean;
  readonly info: EmbedderInfo;
  private backend: Backend | null;
  private readonly tokenizer: LoadedTokenizer;
  private readonly prefix: Pieces;
  private readonly suffix: Pieces;
  private readonly skip: ReadonlySet<number> | null;
  private readonly windowSize: number;

  constructor(args: {
    modelId: string;
    fingerprint: string;
    synthetic: boolean;
    info: EmbedderInfo;
    backend: Backend;
    tokenizer: LoadedTokenizer;
    special: Special;
  }) {
    this.modelId = args.modelId;
    this.fingerprint = args.fingerprint;
    this.dimension = args.backend.dimension;
    this.synthetic = args.synthetic;
    this.info = args.info;
    this.backend = args.backend;
    this.tokenizer = args.tokenizer;
    this.prefix = args.special.prefix;
    this.suffix = args.special.suffix;
    this.skip = args.special.skip;
    this.windowSize = args.info.maxTokens - this.prefix.ids.length - this.suffix.ids.length;
  }

  /** Input ids of one window of a document, special tokens added. */
  private row(doc: DocWork, w: number): number[] {
    const win = doc.windows[w]!;
    return [...this.prefix.ids, ...doc.ids.slice(win.start, win.end), ...this.suffix.ids];
  }

  private prepare(input: EmbedInput, index: number): DocWork | EmbedOutcome {
    const { docId, text } = input;
    if (typeof text !== 'string' || text.trim() === '') return { ok: false, docId, reason: 'empty text' };
    let ids: number[];
    let tokens: string[];
    try {
      ({ ids, tokens } = this.tokenizer.encode(text));
    } catch (e) {
      return { ok: false, docId, reason: `tokenizer failed: ${(e as Error).message}` };
    }
    if (ids.length === 0) {
      return { ok: false, docId, reason: 'the text has no tokens (only whitespace or control characters)' };
    }
    const windows = planWindows(ids.length, this.windowSize, this.info.stride);
    const owner = windows.length > 1 ? assignOwners(windows, ids.length) : null;
    const kept = owner !== null ? ids.length : windows[0]!.end;
    const { prefix, suffix, skip } = this;
    const keepSpecial = this.info.keepSpecialTokens;
    const outTokens = keepSpecial ? [...prefix.tokens] : [];
    const row = new Int32Array(kept);
    let skipped = 0;
    for (let i = 0; i < kept; i++) {
      if (skip !== null && skip.has(ids[i]!)) {
        row[i] = -1;
        skipped++;
        continue;
      }
      row[i] = outTokens.length;
      outTokens.push(tokens[i]!);
    }
    if (keepSpecial) outTokens.push(...suffix.tokens);
    if (outTokens.length === 0) {
      return {
        ok: false,
        docId,
        reason: 'the text has only punctuation, which the ColBERT conventions skip',
      };
    }
    return {
      index,
      docId,
      tokens: outTokens,
      ids,
      windows,
      owner,
      row,
      count: outTokens.length,
      contiguous: windows.length === 1 && skipped === 0,
      vectors: null,
    };
  }

  /** Copies the kept positions of one output row into the document's vectors. */
  private collect(seq: Seq, { data, seqLen }: RunResult, rowIndex: number): void {
    const { doc, window: w } = seq;
    const D = this.dimension;
    const win = doc.windows[w]!;
    const pre = this.prefix.ids.length;
    const suf = this.suffix.ids.length;
    const keepSpecial = this.info.keepSpecialTokens;
    const rowBase = rowIndex * seqLen * D;
    const content = win.end - win.start;
    if (doc.contiguous) {
      // [special prefix] content [special suffix] are consecutive positions of the row, in output order.
      const first = keepSpecial ? 0 : pre;
      doc.vectors = data.subarray(rowBase + first * D, rowBase + (first + doc.count) * D);
      return;
    }
    const vectors = (doc.vectors ??= new Float32Array(doc.count * D));
    const copy = (pos: number, target: number): void => {
      const src = rowBase + pos * D;
      vectors.set(data.subarray(src, src + D), target * D);
    };
    if (keepSpecial && w === 0) for (let p = 0; p < pre; p++) copy(p, p);
    for (let k = 0; k < content; k++) {
      const docPos = win.start + k;
      if (doc.owner !== null && doc.owner[docPos] !== w) continue;
      const target = doc.row[docPos]!;
      if (target >= 0) copy(pre + k, target);
    }
    if (keepSpecial && w === doc.windows.length - 1) {
      const tail = doc.count - suf;
      for (let j = 0; j < suf; j++) copy(pre + content + j, tail + j);
    }
  }

  async embed(docs: EmbedInput[], signal?: AbortSignal): Promise<EmbedOutcome[]> {
    const backend = this.backend;
    if (backend === null) throw new EmbedderError('the embedder is closed');
    signal?.throwIfAborted();
    const outcomes: EmbedOutcome[] = new Array<EmbedOutcome>(docs.length);
    const work: DocWork[] = [];
    docs.forEach((d, i) => {
      const r = this.prepare(d, i);
      if ('ok' in r) outcomes[i] = r;
      else work.push(r);
    });
    const extra = this.prefix.ids.length + this.suffix.ids.length;
    const seqs: Seq[] = [];
    for (const doc of work) {
      doc.windows.forEach((win, w) => seqs.push({ doc, window: w, length: win.end - win.start + extra }));
    }
    // Longest batches first: the queue hands each to the next free session, so the cores finish together.
    const batches = groupBatches(
      seqs.map((s) => s.length),
      this.info.batch,
    );
    await Promise.all(
      batches.map(async (batch) => {
        const members = batch.map((i) => seqs[i]!);
        const result = await backend.run(
          members.map((s) => this.row(s.doc, s.window)),
          signal,
        );
        const real = members.reduce((a, s) => a + s.length, 0);
        this.stats.runs++;
        this.stats.sequences += members.length;
        this.stats.tokens += real;
        this.stats.paddedTokens += members.length * result.seqLen - real;
        members.forEach((s, r) => this.collect(s, result, r));
      }),
    );
    const D = this.dimension;
    for (const doc of work) {
      const vectors = doc.vectors!;
      if (this.info.normalize) l2normalize(vectors, D);
      outcomes[doc.index] = {
        ok: true,
        docId: doc.docId,
        tokens: doc.tokens,
        vectors,
        dimension: D,
      };
    }
    return outcomes;
  }

  async close(): Promise<void> {
    const b = this.backend;
    this.backend = null;
    if (b !== null) await b.close();
  }
}

/** In place: each `dim`-long vector scaled to unit L2 norm (zero vectors stay zero). */
export function l2normalize(v: Float32Array, dim: number): void {
  for (let base = 0; base < v.length; base += dim) {
    let ss = 0;
    for (let i = base; i < base + dim; i++) ss += v[i]! * v[i]!;
    if (ss === 0) continue;
    const inv = 1 / Math.sqrt(ss);
    for (let i = base; i < base + dim; i++) v[i] = v[i]! * inv;
  }
}

/** The token sequences around a document's word pieces, and the ids whose vectors are skipped. */
export interface Special {
  prefix: Pieces;
  suffix: Pieces;
  skip: ReadonlySet<number> | null;
}

/** Special tokens and skiplist under the given conventions. Throws when the marker is not in the vocabulary. */
export function specialTokens(tokenizer: LoadedTokenizer, conventions: ColbertConventions | null): Special {
  let { prefix } = tokenizer;
  const { suffix } = tokenizer;
  if (conventions?.marker != null) {
    const id = tokenizer.idOf(conventions.marker);
    if (id === undefined) {
      throw new ModelLoadError(
        tokenizer.file,
        `has no "${conventions.marker}" token, the ColBERT document marker (embedder.json "colbert.marker")`,
      );
    }
    if (prefix.ids.length === 0)
      throw new ModelLoadError(tokenizer.file, 'adds no [CLS] token, after which the ColBERT marker goes');
    prefix = {
      ids: [prefix.ids[0]!, id, ...prefix.ids.slice(1)],
      tokens: [prefix.tokens[0]!, conventions.marker, ...prefix.tokens.slice(1)],
    };
  }
  const skip = conventions?.skipPunctuation
    ? punctuationSkiplist(tokenizer.idOf, (t) => tokenizer.encode(t).ids)
    : null;
  return { prefix, suffix, skip };
}

/**
 * What must hold between the model, its tokenizer and the settings before anything runs: inputs we can
 * feed, a per-token output, a vocabulary that fits the embedding matrix, maxTokens within the positions.
 * Returns the problems (empty: none) and the output chosen, with the reason.
 */
export function modelProblems(
  graph: ModelGraph,
  modelFile: string,
  tokenizer: LoadedTokenizer,
  cfg: ModelDirConfig,
  settings: ResolvedSettings,
): { problems: Error[]; output: { name: string; reason: string } | null } {
  const problems: Error[] = [];
  const attempt = <T>(f: () => T): T | null => {
    try {
      return f();
    } catch (e) {
      problems.push(e as Error);
      return null;
    }
  };
  attempt(() => checkInputs(graph.inputs, modelFile));
  const output = attempt(() => chooseTokenOutput(graph.outputs, cfg.output, modelFile));
  if (graph.vocabRows !== null && tokenizer.vocabSize > graph.vocabRows) {
    problems.push(
      new ModelLoadError(
        tokenizer.file,
        `this tokenizer produces ids up to ${tokenizer.vocabSize - 1} (${tokenizer.vocabSize} pieces) but the ` +
          `model's embedding matrix has ${graph.vocabRows} rows (${modelFile}): they do not belong together; ` +
          'use the tokenizer the model was exported with',
      ),
    );
  }
  const positions = graph.positionRows;
  if (positions !== null && settings.maxTokens > positions) {
    problems.push(
      new EmbedderOptionsError(
        `maxTokens ${settings.maxTokens} exceeds the model's ${positions} positions (its position embeddings in ` +
          `${modelFile}); set maxTokens to at most ${positions}`,
      ),
    );
  } else if (cfg.maxPositions !== undefined && settings.maxTokens > cfg.maxPositions) {
    problems.push(
      new EmbedderOptionsError(
        `maxTokens ${settings.maxTokens} exceeds the model's ${cfg.maxPositions} positions (embedder.json maxPositions); ` +
          `set maxTokens to at most ${cfg.maxPositions}`,
      ),
    );
  }
  return { problems, output };
}

/**
 * Loads a model directory (model.onnx + tokenizer.json or vocab.txt + optional embedder.json) and returns an
 * Embedder. Throws ModelLoadError (naming the file) when something is missing or corrupt, and
 * DimensionMismatchError when `options.dimension` is set and differs from the model's output dimension.
 */
export async function loadEmbedder(modelDir: string, options: EmbedderOptions = {}): Promise<TokenEmbedder> {
  const dir = path.resolve(modelDir);
  try {
    if (!(await stat(dir)).isDirectory()) throw new ModelLoadError(dir, 'is not a directory');
  } catch (e) {
    if (e instanceof ModelLoadError) throw e;
    throw new ModelLoadError(dir, `model directory cannot be read: ${(e as Error).message}`, { cause: e });
  }
  for (const k of [
    'dimension',
    'maxTokens',
    'stride',
    'threads',
    'maxBatchSize',
    'maxBatchTokens',
  ] as const) {
    positiveInt(k, options[k]);
  }
  if (options.maxPadFraction !== undefined && !(options.maxPadFraction >= 0 && options.maxPadFraction <= 1)) {
    throw new EmbedderOptionsError(`maxPadFraction must be between 0 and 1, got ${options.maxPadFraction}`);
  }
  const cfg = await readModelDirConfig(dir);
  const modelFile = path.join(dir, MODEL_FILE);
  try {
    await stat(modelFile);
  } catch {
    throw new ModelLoadError(modelFile, `missing: a model directory needs ${MODEL_FILE} (an ONNX encoder)`);
  }
  const tokenizer = await loadTokenizer(dir, {
    ...(cfg.lowercase !== undefined && { lowercase: cfg.lowercase }),
    ...(options.tokenizerPath !== undefined && { file: options.tokenizerPath }),
  });

  const resolved = resolveSettings(cfg, options);
  const { maxTokens } = resolved;
  // Everything that would fail mid-heal is checked here, before the model runs or anything is written.
  const { problems } = modelProblems(await readModelGraph(modelFile), modelFile, tokenizer, cfg, resolved);
  if (problems.length > 0) throw problems[0]!;
  const specialPieces = specialTokens(tokenizer, resolved.conventions);
  const special = specialPieces.prefix.ids.length + specialPieces.suffix.ids.length;
  const windowSize = maxTokens - special;
  if (windowSize < 1) {
    throw new EmbedderOptionsError(
      `maxTokens ${maxTokens} leaves no room for text next to ${special} special tokens`,
    );
  }
  if (options.stride !== undefined && options.stride > windowSize) {
    throw new EmbedderOptionsError(
      `stride ${options.stride} is larger than a window's ${windowSize} word pieces (maxTokens ${maxTokens} minus ` +
        `${special} special tokens): windows would leave gaps; use a stride of at most ${windowSize}`,
    );
  }
  const cores = os.availableParallelism();
  const sessions = options.sessions ?? Math.min(cores, MAX_DEFAULT_SESSIONS);
  const threads = options.threads ?? Math.max(1, Math.floor(cores / Math.max(1, sessions)));
  const info: EmbedderInfo = {
    modelDir: dir,
    modelFile,
    tokenizerFile: tokenizer.file,
    output: '',
    maxTokens,
    stride: options.stride,
    keepSpecialTokens: resolved.keepSpecialTokens,
    normalize: resolved.normalize,
    conventions: resolved.conventions,
    sessions,
    threads,
    batch: {
      maxBatchSize: options.maxBatchSize ?? DEFAULT_LIMITS.maxBatchSize,
      maxBatchTokens: Math.max(options.maxBatchTokens ?? DEFAULT_LIMITS.maxBatchTokens, maxTokens),
      maxPadFraction: options.maxPadFraction ?? DEFAULT_LIMITS.maxPadFraction,
    },
    description: cfg.description,
  };
  const settings = {
    modelFile,
    threads,
    output: cfg.output,
    probeIds: [...specialPieces.prefix.ids, ...tokenizer.encode('probe').ids, ...specialPieces.suffix.ids],
    padId: tokenizer.padId,
  };
  const backend =
    sessions === 0 ? await localBackend(settings) : await sessionThreadsBackend(settings, sessions);
  try {
    if (options.dimension !== undefined && options.dimension !== backend.dimension) {
      throw new DimensionMismatchError(dir, options.dimension, backend.dimension);
    }
    info.output = backend.output;
    const fingerprint = await fingerprintOf(dir, cfg, tokenizer.file, options);
    return new OnnxTokenEmbedder({
      modelId: options.modelId ?? cfg.modelId ?? path.basename(dir),
      fingerprint,
      synthetic: cfg.synthetic === true,
      info,
      backend,
      tokenizer,
      special: specialPieces,
    });
  } catch (e) {
    await backend.close();
    throw e;
  }
}
