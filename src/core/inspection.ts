/**
 * The inspection: what the live database says, in the shape the checks and the plan need. Built by the
 * engine from a few set queries (src/heal/inspect.ts); everything here is pure.
 */
import type { Candidate, EmbeddingState, SchemaReport, StoreCounts } from './store-port.ts';

/** Damage found in a document's token rows (bounded reads: see Store.tokenDamage). */
export interface TokenDamage {
  /** token_index is not exactly 0..n-1 (a row moved, a gap, an index past the end). */
  outOfSequence: boolean;
  /** Token rows read whose vector is all zeros or holds NaN or an infinity. */
  badVectors: number;
}

export interface TargetDoc {
  candidate: Candidate;
  embedding: EmbeddingState;
  /** Set when the inspection looked for damage and found some. */
  damage?: TokenDamage;
}

export interface Inspection {
  schema: SchemaReport;
  counts: StoreCounts;
  /** Documents with a non-empty abstract. */
  candidatesTotal: number;
  /** The first docCount candidates in selection order (fewer when there are not enough). */
  target: TargetDoc[];
  /** The declared docCount. */
  docCount: number;
}

/** Where a document's token embeddings stand against the declared model and dimension. */
export type EmbeddingStatus =
  'complete' | 'missing' | 'partial' | 'damaged' | 'wrong-dimension' | 'stale-model' | 'stale-content';

export interface Expectation {
  dimension: number;
  /** The declared model's fingerprint; null when unknown (then the model is not compared). */
  fingerprint: string | null;
}

/** A stored vector that no model makes: all zeros, or holding NaN or an infinity. */
export function isBadVector(v: ArrayLike<number>): boolean {
  let zero = true;
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    if (!Number.isFinite(x)) return true;
    if (x !== 0) zero = false;
  }
  return zero;
}

/** True when token_index runs exactly 0..n-1: the key is unique, so the lowest is 0 and the highest n-1. */
export function inSequence(tokenRows: number, firstIndex: number, lastIndex: number): boolean {
  return tokenRows === 0 || (firstIndex === 0 && lastIndex === tokenRows - 1);
}

/**
 * The documents whose vectors a pass reads: all of them when there are at most `maxDocs`, else a window of
 * `maxDocs` that moves on by `maxDocs` with each `turn` (so repeated passes cover every document in turn).
 */
export function vectorSample(docIds: readonly string[], maxDocs: number, turn: number): string[] {
  if (docIds.length <= maxDocs) return [...docIds];
  const windows = Math.ceil(docIds.length / maxDocs);
  const start = (((turn % windows) + windows) % windows) * maxDocs;
  const out = docIds.slice(start, start + maxDocs);
  if (out.length < maxDocs) out.push(...docIds.slice(0, maxDocs - out.length));
  return out;
}

/** True when the damage found means the document must be embedded again. */
export function isDamaged(damage: TokenDamage | undefined): boolean {
  return damage !== undefined && (damage.outOfSequence || damage.badVectors > 0);
}

export function embeddingStatus(
  state: EmbeddingState,
  expect: Expectation,
  damage?: TokenDamage,
): EmbeddingStatus {
  const { ledger, tokenRows } = state;
  if (!ledger) return tokenRows > 0 ? 'partial' : 'missing';
  if (tokenRows !== ledger.tokenCount) return tokenRows === 0 ? 'missing' : 'partial';
  if (isDamaged(damage)) return 'damaged';
  if (ledger.dimension !== expect.dimension) return 'wrong-dimension';
  if (expect.fingerprint !== null && ledger.modelFingerprint !== expect.fingerprint) return 'stale-model';
  if (state.contentHash === null || ledger.contentHash !== state.contentHash) return 'stale-content';
  return 'complete';
}

/** Target documents grouped by embedding status, each list in target order. */
export function groupByStatus(
  inspection: Inspection,
  expect: Expectation,
): Record<EmbeddingStatus, string[]> {
  const groups: Record<EmbeddingStatus, string[]> = {
    complete: [],
    missing: [],
    partial: [],
    damaged: [],
    'wrong-dimension': [],
    'stale-model': [],
    'stale-content': [],
  };
  for (const t of inspection.target)
    groups[embeddingStatus(t.embedding, expect, t.damage)].push(t.candidate.docId);
  return groups;
}
