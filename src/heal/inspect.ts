/**
 * Builds the inspection from a few set queries on the store. Never reads texts; reads vectors only of a bounded
 * sample of documents (vectorSampleDocs, default VECTOR_SAMPLE_DOCS), to find vectors that are all zeros or not
 * finite. Token rows out of sequence come from the same aggregate that counts them.
 */
import {
  inSequence,
  vectorSample,
  type Expectation,
  type Inspection,
  type TargetDoc,
} from '../core/inspection.ts';
import { selectTarget, type Selection } from '../core/selection.ts';
import type { EmbeddingState, Store } from '../core/store-port.ts';

/** Documents whose vectors one inspection reads (all of them when the target set is no larger). */
export const VECTOR_SAMPLE_DOCS = 64;
/** The sample moves on to the next documents every this many milliseconds. */
const SAMPLE_TURN_MS = 60_000;

export interface InspectOptions {
  /** Documents whose vectors are read (0: none, e.g. for the documents target). */
  vectorSampleDocs?: number;
  /** Clock for the sample's turn (tests). */
  now?: () => number;
}

/** Complete by the ledger and the row count: the documents whose rows may still be damaged. */
function looksComplete(s: EmbeddingState): boolean {
  return s.ledger !== null && s.tokenRows > 0 && s.tokenRows === s.ledger.tokenCount;
}

export async function inspect(
  store: Store,
  docCount: number,
  selection: Selection,
  expect: Pick<Expectation, 'dimension'>,
  options: InspectOptions = {},
): Promise<Inspection> {
  const schema = await store.checkSchema({ dimension: expect.dimension });
  // No tables, or only some (counts would read a missing table): nothing is there to count yet.
  if (schema.empty || schema.partial)
    return {
      schema,
      counts: {
        documents: 0,
        documentsWithAbstract: 0,
        documentsWithTokens: 0,
        tokenRows: 0,
        orphanDocIds: [],
      },
      candidatesTotal: 0,
      target: [],
      docCount,
    };
  const [counts, candidates] = [await store.counts(), await store.candidates()];
  const chosen = selectTarget(candidates, selection, docCount);
  const states = await store.embeddingStates(chosen.map((c) => c.docId));
  const sampleDocs = options.vectorSampleDocs ?? VECTOR_SAMPLE_DOCS;
  const complete = states.filter(looksComplete).map((s) => s.docId);
  const turn = Math.floor((options.now ?? Date.now)() / SAMPLE_TURN_MS);
  const bad =
    sampleDocs > 0 && complete.length > 0
      ? await store.badVectors(vectorSample(complete, sampleDocs, turn))
      : new Map<string, number>();
  return {
    schema,
    counts,
    candidatesTotal: candidates.length,
    target: chosen.map((candidate, i): TargetDoc => {
      const embedding = states[i]!;
      const outOfSequence =
        embedding.firstIndex !== undefined &&
        embedding.lastIndex !== undefined &&
        !inSequence(embedding.tokenRows, embedding.firstIndex, embedding.lastIndex);
      const badVectors = bad.get(candidate.docId) ?? 0;
      return outOfSequence || badVectors > 0
        ? { candidate, embedding, damage: { outOfSequence, badVectors } }
        : { candidate, embedding };
    }),
    docCount,
  };
}
