/**
 * Builds the inspection from a few set queries on the store. Never reads vectors or texts.
 */
import type { Expectation, Inspection } from '../core/inspection.ts';
import { selectTarget, type Selection } from '../core/selection.ts';
import type { Store } from '../core/store-port.ts';

export async function inspect(
  store: Store,
  docCount: number,
  selection: Selection,
  expect: Pick<Expectation, 'dimension'>,
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
  return {
    schema,
    counts,
    candidatesTotal: candidates.length,
    target: chosen.map((candidate, i) => ({ candidate, embedding: states[i]! })),
    docCount,
  };
}
