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
