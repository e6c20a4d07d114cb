/**
 * How close two models' token vectors are on the same documents: `datastate model compare A B`, meant for an
 * fp32 model and its int8 quantization (or any two models with the same tokenizer and dimension). Reports the
 * cosine between the two vectors of every token (mean, 1st percentile, minimum), and how well MaxSim
 * retrieval agrees: queries are spans cut from the documents, each scored against every document with each
 * model's own vectors (ColBERT's MaxSim: for each query token its best cosine in the document, summed).
 */
import type { EmbedInput } from '../core/ports.ts';
import type { TokenEmbedding } from '../core/types.ts';
import { EmbedderError } from './errors.ts';
import { loadEmbedder, type EmbedderOptions } from './onnx-embedder.ts';

export interface CosineStats {
  tokens: number;
  mean: number;
  p1: number;
  p5: number;
  min: number;
}

export interface RankAgreement {
  queries: number;
  /** Fraction of queries whose best document is the same under both models. */
  top1: number;
  /** Mean size of the intersection of the two top-10 lists, over 10. */
  top10Overlap: number;
  /** Mean Spearman correlation of the two models' scores over all documents. */
  spearman: number;
  /** Fraction of queries whose own document ranks first, per model. */
  sourceFirstA: number;
  sourceFirstB: number;
}

export interface CompareReport {
  a: string;
  b: string;
  documents: number;
  cosine: CosineStats;
  maxsim: RankAgreement;
  /** Embedding seconds of each model (wall, through the embedder, same documents). */
  secondsA: number;
  secondsB: number;
  synthetic: boolean;
}

/** Value at fraction q (0..1) of an ascending array (nearest rank). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.floor(q * sorted.length)))]!;
}

/** Cosine of every token's two vectors. Throws when the documents or their tokens differ. */
export function tokenCosines(a: readonly TokenEmbedding[], b: readonly TokenEmbedding[]): Float64Array {
  if (a.length !== b.length) throw new EmbedderError(`compare: ${a.length} vs ${b.length} documents`);
  const total = a.reduce((n, e) => n + e.tokens.length, 0);
  const out = new Float64Array(total);
  let k = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.dimension !== y.dimension)
      throw new EmbedderError(`compare: dimensions differ (${x.dimension} vs ${y.dimension})`);
    if (x.tokens.length !== y.tokens.length || x.tokens.some((t, j) => t !== y.tokens[j]))
      throw new EmbedderError(
        `compare: ${x.docId} is tokenized differently by the two models; they need the same tokenizer`,
      );
    const d = x.dimension;
    for (let t = 0; t < x.tokens.length; t++) {
      let dot = 0;
      let nx = 0;
      let ny = 0;
      for (let j = t * d; j < (t + 1) * d; j++) {
        const p = x.vectors[j]!;
        const q = y.vectors[j]!;
        dot += p * q;
        nx += p * p;
        ny += q * q;
      }
      out[k++] = nx === 0 || ny === 0 ? (nx === ny ? 1 : 0) : dot / Math.sqrt(nx * ny);
    }
  }
  return out;
}

export function cosineStats(c: Float64Array): CosineStats {
  const sorted = Float64Array.from(c).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    tokens: sorted.length,
    mean: sum / Math.max(1, sorted.length),
    p1: quantile(sorted, 0.01),
    p5: quantile(sorted, 0.05),
    min: sorted.length ? sorted[0]! : Number.NaN,
  };
}

/** A copy of row-major vectors with every row L2-normalized. */
function normalized(v: Float32Array, dim: number): Float32Array {
  const out = Float32Array.from(v);
  for (let r = 0; r < out.length; r += dim) {
    let n = 0;
    for (let j = r; j < r + dim; j++) n += out[j]! * out[j]!;
    const s = n > 0 ? 1 / Math.sqrt(n) : 0;
    for (let j = r; j < r + dim; j++) out[j]! *= s;
  }
  return out;
}

/** MaxSim of a query against a document, both L2-normalized row-major [tokens, dim]. */
export function maxSim(q: Float32Array, d: Float32Array, dim: number): number {
  let total = 0;
  for (let i = 0; i < q.length; i += dim) {
    let best = -Infinity;
    for (let r = 0; r < d.length; r += dim) {
      let dot = 0;
      for (let j = 0; j < dim; j++) dot += q[i + j]! * d[r + j]!;
      if (dot > best) best = dot;
    }
    total += best === -Infinity ? 0 : best;
  }
  return total;
}

function ranks(scores: readonly number[]): number[] {
  const order = scores.map((s, i) => [s, i] as const).sort((x, y) => y[0] - x[0] || x[1] - y[1]);
  const r = new Array<number>(scores.length);
  order.forEach(([, i], k) => (r[i] = k));
  return r;
}

/** Spearman correlation of two score lists (no tie correction: float scores). */
export function spearman(a: readonly number[], b: readonly number[]): number {
  const n = a.length;
  if (n < 2) return 1;
  const ra = ranks(a);
  const rb = ranks(b);
  let d2 = 0;
  for (let i = 0; i < n; i++) d2 += (ra[i]! - rb[i]!) ** 2;
  return 1 - (6 * d2) / (n * (n * n - 1));
}

/** Agreement of two models' scores: scoresX[q][d], source[q] the document query q was cut from. */
export function rankAgreement(
  scoresA: readonly (readonly number[])[],
  scoresB: readonly (readonly number[])[],
  source: readonly number[],
): RankAgreement {
  const n = scoresA.length;
  let top1 = 0;
  let overlap = 0;
  let rho = 0;
  let firstA = 0;
  let firstB = 0;
  for (let q = 0; q < n; q++) {
    const a = scoresA[q]!;
    const b = scoresB[q]!;
    const ra = ranks(a);
    const rb = ranks(b);
    const topA = new Set(a.map((_, i) => i).filter((i) => ra[i]! < 10));
    const topB = b.map((_, i) => i).filter((i) => rb[i]! < 10);
    overlap += topB.filter((i) => topA.has(i)).length / Math.min(10, a.length);
    if (ra.indexOf(0) === rb.indexOf(0)) top1++;
    if (ra[source[q]!] === 0) firstA++;
    if (rb[source[q]!] === 0) firstB++;
    rho += spearman(a, b);
  }
  const m = Math.max(1, n);
  return {
    queries: n,
    top1: top1 / m,
    top10Overlap: overlap / m,
    spearman: rho / m,
    sourceFirstA: firstA / m,
    sourceFirstB: firstB / m,
  };
}

/** Queries cut from the documents: `count` documents spread evenly, from each a span of `words` words. */
export function queriesFrom(
  docs: readonly EmbedInput[],
  count: number,
  words = 12,
): { source: number; text: string }[] {
  const out: { source: number; text: string }[] = [];
  const n = Math.min(count, docs.length);
  for (let k = 0; k < n; k++) {
    const source = Math.floor((k * docs.length) / n);
    const w = docs[source]!.text.split(/\s+/).filter(Boolean);
    const start = Math.max(0, Math.floor(w.length / 3) - Math.floor(words / 2));
    const text = w.slice(start, start + words).join(' ');
    if (text) out.push({ source, text });
  }
  return out;
}

async function embedAll(
  dir: string,
  docs: readonly EmbedInput[],
  queries: readonly string[],
  options: EmbedderOptions,
): Promise<{ docs: TokenEmbedding[]; queries: TokenEmbedding[]; seconds: number; synthetic: boolean }> {
  const e = await loadEmbedder(dir, options);
  try {
    const t0 = performance.now();
    const outcomes = await e.embed([...docs]);
    const seconds = (performance.now() - t0) / 1000;
    const q = await e.embed(queries.map((text, i) => ({ docId: `query-${i}`, text })));
    const ok = (o: (typeof outcomes)[number]): TokenEmbedding => {
      if (!o.ok) throw new EmbedderError(`compare: ${o.docId} could not be embedded: ${o.reason}`);
      return o;
    };
    return { docs: outcomes.map(ok), queries: q.map(ok), seconds, synthetic: e.synthetic };
  } finally {
    await e.close();
  }
}

/** Embeds `docs` with both models and compares (see the module comment). */
export async function compareModels(
  a: string,
  b: string,
  docs: readonly EmbedInput[],
  opts: { queries?: number; embedder?: EmbedderOptions } = {},
): Promise<CompareReport> {
  if (docs.length === 0) throw new EmbedderError('compare: no documents to embed');
  const qs = queriesFrom(docs, opts.queries ?? 20);
  const ea = await embedAll(
    a,
    docs,
    qs.map((q) => q.text),
    opts.embedder ?? {},
  );
  const eb = await embedAll(
    b,
    docs,
    qs.map((q) => q.text),
    opts.embedder ?? {},
  );
  const cosine = cosineStats(tokenCosines(ea.docs, eb.docs));
  const scores = (e: typeof ea) => {
    const d = e.docs.map((x) => normalized(x.vectors, x.dimension));
    return e.queries.map((q) => {
      const qv = normalized(q.vectors, q.dimension);
      return d.map((dv) => maxSim(qv, dv, q.dimension));
    });
  };
  return {
    a,
    b,
    documents: docs.length,
    cosine,
    maxsim: rankAgreement(
      scores(ea),
      scores(eb),
      qs.map((q) => q.source),
    ),
    secondsA: ea.seconds,
    secondsB: eb.seconds,
    synthetic: ea.synthetic || eb.synthetic,
  };
}

const f4 = (x: number) => x.toFixed(5);

export function compareReportText(r: CompareReport): string {
  const m = r.maxsim;
  return [
    `A: ${r.a}`,
    `B: ${r.b}`,
    `documents: ${r.documents}, tokens: ${r.cosine.tokens}`,
    `per-token cosine A vs B: mean ${f4(r.cosine.mean)}, 1st percentile ${f4(r.cosine.p1)}, ` +
      `5th percentile ${f4(r.cosine.p5)}, min ${f4(r.cosine.min)}`,
    `MaxSim over ${m.queries} queries cut from the documents: same top document ${(m.top1 * 100).toFixed(0)}%, ` +
      `top-10 overlap ${(m.top10Overlap * 100).toFixed(0)}%, Spearman ${f4(m.spearman)}; ` +
      `own document first: A ${(m.sourceFirstA * 100).toFixed(0)}%, B ${(m.sourceFirstB * 100).toFixed(0)}%`,
    `embedding time: A ${r.secondsA.toFixed(1)} s, B ${r.secondsB.toFixed(1)} s (B/A speed ${(r.secondsA / r.secondsB).toFixed(2)}x)`,
    ...(r.synthetic ? ['note: a model has SYNTHETIC (random) weights; a real model may quantize worse'] : []),
  ].join('\n');
}
