/**
 * The inspection: what the live database says, in the shape the checks and the plan need. Built by the
 * engine from a few set queries (src/heal/inspect.ts); everything here is pure.
 */
import type { Candidate, EmbeddingState, SchemaReport, StoreCounts } from './store-port.ts';

export interface TargetDoc {
  candidate: Candidate;
  embedding: EmbeddingState;
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
  'complete' | 'missing' | 'partial' | 'wrong-dimension' | 'stale-model' | 'stale-content';

export interface Expectation {
  dimension: number;
  /** The declared model's fingerprint; null when unknown (then the model is not compared). */
  fingerprint: string | null;
}

export function embeddingStatus(state: EmbeddingState, expect: Expectation): EmbeddingStatus {
  const { ledger, tokenRows } = state;
  if (!ledger) return tokenRows > 0 ? 'partial' : 'missing';
  if (tokenRows !== ledger.tokenCount) return tokenRows === 0 ? 'missing' : 'partial';
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
    'wrong-dimension': [],
    'stale-model': [],
    'stale-content': [],
  };
  for (const t of inspection.target) groups[embeddingStatus(t.embedding, expect)].push(t.candidate.docId);
  return groups;
}
