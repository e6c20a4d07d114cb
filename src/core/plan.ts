/**
 * The healing plan: the diff between the declared state and the inspection, as work to do. Pure.
 */
import type { PlanSummary, TargetState } from '../api/schema.ts';
import { embeddingStatus, type EmbeddingStatus, type Expectation, type Inspection } from './inspection.ts';
import { isPlaceholderAbstract } from './selection.ts';
import type { SchemaProblem } from './store-port.ts';
import type { Calibration, Throughput } from './throughput.ts';

export interface EmbedTask {
  docId: string;
  reason: Exclude<EmbeddingStatus, 'complete'> | 'forced';
}

export interface PlanInput {
  targetState: TargetState;
  docCount: number;
  forceRegenerate: boolean;
  batchSize: number;
  /** Seconds one document takes to embed, assumed, for the time estimate when nothing was measured. */
  secondsPerDocument?: number;
  /** What earlier heals of this model measured (throughput.ts); wins over secondsPerDocument. */
  throughput?: Throughput | null;
  /** A calibration run just now (no earlier heal recorded); between throughput and secondsPerDocument. */
  calibration?: Calibration | null;
}

export interface HealingPlan {
  /** Tables, indexes or triggers are missing and will be created. */
  createSchema: boolean;
  /** Existing objects differ from the expectation: healing stops here and names the DDL that fixes it. */
  schemaProblems: SchemaProblem[];
  /**
   * The token table has another vector dimension but holds no rows (e.g. made by a `documents` run with the
   * default dimension): recreated at the declared dimension without asking. Null when not needed.
   */
  rebuildTokenTable: { from: number; to: number } | null;
  /** How many more documents with an abstract must come from the source. */
  documentsToLoad: number;
  /** Target documents with a placeholder abstract, to re-read from the source. */
  reloadDocIds: string[];
  /** doc_ids with token or ledger rows but no document; deleted unless the document is loaded again. */
  orphanDocIds: string[];
  /** Target documents to (re-)embed now, in target order. */
  embed: EmbedTask[];
  /** embed split into batches (one transaction each). */
  batches: string[][];
  batchSize: number;
  summary: PlanSummary;
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export function buildPlan(inspection: Inspection, input: PlanInput, expect: Expectation): HealingPlan {
  const wantsDocuments = input.targetState !== 'token-embeddings';
  const wantsEmbeddings = input.targetState !== 'documents';
  const mismatches = inspection.schema.problems.filter((p) => p.kind === 'mismatch');
  const emptyTokens = inspection.counts.tokenRows === 0;
  const rebuild = emptyTokens ? mismatches.find((p) => p.liveDimension !== undefined) : undefined;
  const schemaProblems = mismatches.filter((p) => !(emptyTokens && p.liveDimension !== undefined));

  const documentsToLoad = wantsDocuments ? Math.max(0, input.docCount - inspection.candidatesTotal) : 0;
  const reloadDocIds = wantsDocuments
    ? inspection.target.filter((t) => isPlaceholderAbstract(t.candidate)).map((t) => t.candidate.docId)
    : [];

  const embed: EmbedTask[] = [];
  if (wantsEmbeddings) {
    for (const t of inspection.target) {
      const status = embeddingStatus(t.embedding, expect, t.damage);
      if (status !== 'complete') embed.push({ docId: t.candidate.docId, reason: status });
      else if (input.forceRegenerate) embed.push({ docId: t.candidate.docId, reason: 'forced' });
    }
  }
  const count = (pred: (t: EmbedTask) => boolean) => embed.filter(pred).length;
  // Documents loaded now will need embeddings too: counted in the summary, embedded after the load.
  const toEmbedAfterLoad = wantsEmbeddings ? documentsToLoad : 0;
  const embedTotal = embed.length + toEmbedAfterLoad;
  const batches = chunk(
    embed.map((t) => t.docId),
    input.batchSize,
  );
  const summary: PlanSummary = {
    documentsToLoad,
    // Documents in the target set now; documents still to load are counted in documentsToLoad (and batches).
    embeddingsMissing: count(
      (t) => t.reason === 'missing' || t.reason === 'partial' || t.reason === 'damaged',
    ),
    embeddingsStale: count((t) => t.reason !== 'missing' && t.reason !== 'partial' && t.reason !== 'damaged'),
    embeddingsToDelete: inspection.counts.orphanDocIds.length,
    batches: Math.ceil(embedTotal / input.batchSize),
    batchSize: input.batchSize,
  };
  const t = input.throughput;
  if (t) {
    summary.estimatedSeconds = Math.round(embedTotal * t.secondsPerDocument);
    summary.estimateFrom =
      `measured: ${t.secondsPerDocument.toFixed(3)} s per document over ${t.documents} documents ` +
      `(${t.batches} batches) of earlier heals of this model, the latest at ${t.lastAt}`;
  } else if (input.calibration) {
    const c = input.calibration;
    summary.estimatedSeconds = Math.round(embedTotal * c.secondsPerDocument);
    summary.estimateFrom =
      `calibrated: ${c.secondsPerDocument.toFixed(3)} s per document, timed just now on ${c.documents} documents ` +
      `embedded and not written; no earlier heal of this model recorded`;
  } else if (input.secondsPerDocument !== undefined) {
    summary.estimatedSeconds = Math.round(embedTotal * input.secondsPerDocument);
    summary.estimateFrom = `assumed: ${input.secondsPerDocument} s per document (no earlier heal of this model recorded)`;
  }
  return {
    createSchema: inspection.schema.empty || inspection.schema.problems.some((p) => p.kind === 'missing'),
    schemaProblems,
    rebuildTokenTable: rebuild === undefined ? null : { from: rebuild.liveDimension!, to: expect.dimension },
    documentsToLoad,
    reloadDocIds,
    orphanDocIds: [...inspection.counts.orphanDocIds],
    embed,
    batches,
    batchSize: input.batchSize,
    summary,
  };
}

/** True when the plan has nothing to do. */
export function planIsEmpty(plan: HealingPlan): boolean {
  return (
    !plan.createSchema &&
    plan.rebuildTokenTable === null &&
    plan.documentsToLoad === 0 &&
    plan.reloadDocIds.length === 0 &&
    plan.orphanDocIds.length === 0 &&
    plan.embed.length === 0
  );
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
}

export function formatDuration(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** The plan as lines a person reads. */
export function describePlan(plan: HealingPlan): string[] {
  const lines: string[] = [];
  if (plan.createSchema) lines.push('create the schema (tables, trigger)');
  if (plan.rebuildTokenTable)
    lines.push(
      `recreate the empty token table for vectors of dimension ${plan.rebuildTokenTable.to} (it was made for ${plan.rebuildTokenTable.from})`,
    );
  for (const p of plan.schemaProblems)
    lines.push(`schema: ${p.object}: ${p.problem} — fix by hand: ${p.fix}`);
  if (plan.documentsToLoad)
    lines.push(
      `load ${plural(plan.documentsToLoad, 'document')} with an abstract from the source` +
        (plan.summary.batches > Math.ceil(plan.embed.length / plan.batchSize)
          ? ' (and embed them where no current embeddings exist)'
          : ''),
    );
  if (plan.reloadDocIds.length)
    lines.push(
      `re-read ${plural(plan.reloadDocIds.length, 'document')} with a placeholder abstract from the source`,
    );
  if (plan.orphanDocIds.length)
    lines.push(
      `delete the token embeddings of ${plural(plan.orphanDocIds.length, 'document')} that no longer exist (kept if loaded again)`,
    );
  const s = plan.summary;
  if (s.embeddingsMissing)
    lines.push(
      `embed ${plural(s.embeddingsMissing, 'document')} with missing, partial or damaged token embeddings`,
    );
  if (s.embeddingsStale)
    lines.push(`re-embed ${plural(s.embeddingsStale, 'document')} with stale embeddings`);
  if (s.batches)
    lines.push(
      `${plural(s.batches, 'batch', 'batches')} of up to ${s.batchSize} documents` +
        (s.estimatedSeconds !== undefined
          ? `, about ${formatDuration(s.estimatedSeconds)}` +
            (s.estimateFrom ? ` (${s.estimateFrom.replace(/^(measured|calibrated|assumed): /, '$1 ')})` : '')
          : ''),
    );
  if (!lines.length) lines.push('nothing to do');
  return lines;
}
