/**
 * The checks: each a pure function of an inspection. Which ones must pass depends on the target state.
 */
import type { CheckResult, TargetState } from '../api/schema.ts';
import { groupByStatus, type Expectation, type Inspection } from './inspection.ts';
import { isPlaceholderAbstract } from './selection.ts';

export const CHECK_NAMES = [
  'schema_integrity',
  'document_count',
  'abstracts_valid',
  'token_embeddings_complete',
  'embedding_dimensions',
  'embeddings_current',
] as const;
export type CheckName = (typeof CHECK_NAMES)[number];

const REQUIRED: Record<TargetState, readonly CheckName[]> = {
  'ragas-eval': CHECK_NAMES,
  'token-embeddings': [
    'schema_integrity',
    'document_count',
    'token_embeddings_complete',
    'embedding_dimensions',
    'embeddings_current',
  ],
  documents: ['schema_integrity', 'document_count', 'abstracts_valid'],
};

export function requiredChecks(targetState: TargetState): readonly CheckName[] {
  return REQUIRED[targetState];
}

const MAX_EXAMPLES = 20;

function examples(ids: string[]): string[] | undefined {
  return ids.length ? ids.slice(0, MAX_EXAMPLES) : undefined;
}

function listed(ids: string[]): string {
  if (!ids.length) return '';
  const shown = ids.slice(0, 5).join(', ');
  return ids.length > 5 ? `${shown}, … (${ids.length} in all)` : shown;
}

export function checkSchema(inspection: Inspection): CheckResult {
  const { schema } = inspection;
  if (schema.ok) {
    const advisories = schema.problems.filter((p) => p.advisory);
    return {
      name: 'schema_integrity',
      passed: true,
      message:
        'tables, columns, vector dimension and trigger as expected' +
        advisories.map((p) => ` | advisory: ${p.object}: ${p.problem}; fix: ${p.fix}`).join(''),
    };
  }
  if (schema.empty)
    return {
      name: 'schema_integrity',
      passed: false,
      message: 'the schema does not exist yet (it is created when healing)',
    };
  return {
    name: 'schema_integrity',
    passed: false,
    message: schema.problems
      .map((p) =>
        p.liveDimension !== undefined && inspection.counts.tokenRows === 0
          ? `${p.object}: ${p.problem}; the table is empty: healing recreates it`
          : `${p.object}: ${p.problem}; fix: ${p.fix}`,
      )
      .join(' | '),
    actual: schema.problems.length,
    target: 0,
    examples: examples(schema.problems.map((p) => p.object)),
  };
}

/**
 * Enough documents with an abstract. The token-embeddings target embeds what is there and loads nothing: when
 * documents are missing it is not reached either, and the message says what loads them.
 */
export function checkDocumentCount(inspection: Inspection, targetState?: TargetState): CheckResult {
  const actual = inspection.candidatesTotal;
  const target = inspection.docCount;
  const passed = actual >= target;
  const loads =
    targetState === 'token-embeddings'
      ? `: ${target - actual} documents missing; the token-embeddings target does not load documents, ensure-ragas-ready (--target-state ragas-eval) loads them`
      : '';
  return {
    name: 'document_count',
    passed,
    message: passed
      ? `${actual} documents with an abstract (>= ${target})`
      : `${actual} documents with an abstract, ${target - actual} short of ${target}${loads}`,
    actual,
    target,
  };
}

export function checkAbstractsValid(inspection: Inspection): CheckResult {
  const bad = inspection.target
    .filter((t) => isPlaceholderAbstract(t.candidate))
    .map((t) => t.candidate.docId);
  return {
    name: 'abstracts_valid',
    passed: bad.length === 0,
    message: bad.length
      ? `${bad.length} documents of the target set have a placeholder abstract: ${listed(bad)}`
      : `no empty or placeholder abstract in the target set of ${inspection.target.length}`,
    actual: bad.length,
    target: 0,
    examples: examples(bad),
  };
}

export function checkTokenEmbeddingsComplete(inspection: Inspection, expect: Expectation): CheckResult {
  const g = groupByStatus(inspection, expect);
  const incomplete = [...g.missing, ...g.partial, ...g.damaged];
  const total = inspection.target.length;
  const short =
    total < inspection.docCount ? ` (the target set has ${total} of ${inspection.docCount} documents)` : '';
  const kinds = [`${g.missing.length} missing`, `${g.partial.length} partial`];
  if (g.damaged.length) {
    const damage = new Map(inspection.target.map((t) => [t.candidate.docId, t.damage]));
    const seq = g.damaged.filter((id) => damage.get(id)?.outOfSequence);
    const vec = g.damaged.filter((id) => (damage.get(id)?.badVectors ?? 0) > 0);
    const parts: string[] = [];
    if (seq.length) parts.push(`token rows out of sequence in ${seq.length}: ${listed(seq)}`);
    if (vec.length) parts.push(`zero or non-finite vectors in ${vec.length}: ${listed(vec)}`);
    kinds.push(`${g.damaged.length} damaged — ${parts.join('; ')}`);
  }
  return {
    name: 'token_embeddings_complete',
    passed: incomplete.length === 0,
    message: incomplete.length
      ? `${incomplete.length} of ${total} documents lack a complete token-embedding set` +
        ` (${kinds.join(', ')}): ${listed(incomplete)}${short}`
      : `all ${total} documents have a complete token-embedding set${short}`,
    actual: total - incomplete.length,
    target: total,
    examples: examples(incomplete),
  };
}

export function checkEmbeddingDimensions(inspection: Inspection, expect: Expectation): CheckResult {
  const bad = groupByStatus(inspection, expect)['wrong-dimension'];
  const schemaDim = inspection.schema.problems.filter((p) => /dimension/i.test(p.problem));
  const passed = bad.length === 0 && schemaDim.length === 0;
  const parts: string[] = [];
  if (bad.length)
    parts.push(
      `${bad.length} documents have vectors of another dimension than ${expect.dimension}: ${listed(bad)}`,
    );
  for (const p of schemaDim) parts.push(`${p.object}: ${p.problem}`);
  return {
    name: 'embedding_dimensions',
    passed,
    message: passed ? `every stored vector has dimension ${expect.dimension}` : parts.join('; '),
    actual: bad.length,
    target: 0,
    examples: examples(bad),
  };
}

export function checkEmbeddingsCurrent(inspection: Inspection, expect: Expectation): CheckResult {
  const g = groupByStatus(inspection, expect);
  const stale = [...g['stale-model'], ...g['stale-content']];
  const parts: string[] = [];
  if (g['stale-model'].length) parts.push(`${g['stale-model'].length} made by another model`);
  if (g['stale-content'].length) parts.push(`${g['stale-content'].length} made from older content`);
  return {
    name: 'embeddings_current',
    passed: stale.length === 0,
    message: stale.length
      ? `${stale.length} documents have stale embeddings (${parts.join(', ')}): ${listed(stale)}`
      : expect.fingerprint === null
        ? 'embeddings match the current content (model not compared: fingerprint unknown)'
        : 'embeddings match the declared model and the current content',
    actual: stale.length,
    target: 0,
    examples: examples(stale),
  };
}

/** Runs the checks the target state requires, in a fixed order. */
export function runChecks(
  inspection: Inspection,
  targetState: TargetState,
  expect: Expectation,
): CheckResult[] {
  const all: Record<CheckName, () => CheckResult> = {
    schema_integrity: () => checkSchema(inspection),
    document_count: () => checkDocumentCount(inspection, targetState),
    abstracts_valid: () => checkAbstractsValid(inspection),
    token_embeddings_complete: () => checkTokenEmbeddingsComplete(inspection, expect),
    embedding_dimensions: () => checkEmbeddingDimensions(inspection, expect),
    embeddings_current: () => checkEmbeddingsCurrent(inspection, expect),
  };
  return requiredChecks(targetState).map((name) => all[name]());
}

export function allPassed(checks: readonly CheckResult[]): boolean {
  return checks.every((c) => c.passed);
}
