/**
 * The embedding worker's wire types, declared once (TypeBox, as src/api does) and used by both ends: the
 * worker server validates what it receives, the controller's dispatcher validates what it gets back.
 *
 *   POST /v1/batches   BatchRequest  → 200 BatchResponse | 4xx/5xx ErrorBody
 *   GET  /v1/model     → 200 ModelInfo
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/** The worker's onnxruntime intra-op threads (spec.workers.threads), set in the worker Deployment's env. */
export const THREADS_ENV = 'DATASTATE_EMBED_THREADS';

const DocId = Type.String({ minLength: 1, maxLength: 256 });
const Count = Type.Integer({ minimum: 0 });

export const BatchRequestSchema = Type.Object(
  {
    /** namespace/name of the DatasetState, for the worker's logs. */
    dataset: Type.String({ minLength: 1 }),
    docIds: Type.Array(DocId, { minItems: 1 }),
    /** The model fingerprint the batch must be embedded with (sha256 hex). */
    fingerprint: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    dimension: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);
export type BatchRequest = Static<typeof BatchRequestSchema>;

export const DocumentFailureSchema = Type.Object({ docId: Type.String(), reason: Type.String() });

export const BatchResponseSchema = Type.Object({
  embedded: Count,
  tokens: Count,
  failures: Type.Array(DocumentFailureSchema),
  /** Documents that were gone from the database when the batch ran. */
  vanished: Count,
  seconds: Type.Number({ minimum: 0 }),
  /** The answering Pod (its HOSTNAME). */
  worker: Type.String(),
});
export type BatchResponse = Static<typeof BatchResponseSchema>;

export const ModelInfoSchema = Type.Object({
  modelId: Type.String(),
  fingerprint: Type.String(),
  dimension: Type.Integer({ minimum: 1 }),
  synthetic: Type.Boolean(),
});
export type ModelInfo = Static<typeof ModelInfoSchema>;

export const ErrorBodySchema = Type.Object({ error: Type.String() });
export type ErrorBody = Static<typeof ErrorBodySchema>;

/** The problems of `value` against `schema`, one per field, as "field: message". */
export function wireProblems(schema: TSchema, value: unknown): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const e of Value.Errors(schema, value)) {
    const field = e.path.replace(/^\//, '').replace(/\//g, '.') || 'body';
    const top = field.split('.')[0]!;
    if (seen.has(top)) continue;
    seen.add(top);
    out.push(`${field}: ${e.message.charAt(0).toLowerCase()}${e.message.slice(1)}`);
  }
  return out;
}

/** A BatchRequest, or the list of what is wrong with it (the worker answers 422 with them). */
export function checkBatchRequest(
  value: unknown,
  maxDocs: number,
): { ok: true; request: BatchRequest } | { ok: false; problems: string[] } {
  const problems = wireProblems(BatchRequestSchema, value);
  if (!problems.length) {
    const r = value as BatchRequest;
    if (r.docIds.length > maxDocs)
      problems.push(`docIds: at most ${maxDocs} documents per batch (got ${r.docIds.length})`);
    else if (new Set(r.docIds).size !== r.docIds.length) problems.push('docIds: must not repeat an id');
  }
  return problems.length ? { ok: false, problems } : { ok: true, request: value as BatchRequest };
}

/** A worker's 200 answer, checked: a worker of another version answering something else is an error. */
export function parseBatchResponse(value: unknown): BatchResponse {
  const problems = wireProblems(BatchResponseSchema, value);
  if (problems.length) throw new Error(`malformed worker answer: ${problems.join('; ')}`);
  return value as BatchResponse;
}

/** The error text of a non-200 answer (whatever shape it has). */
export function errorText(value: unknown): string {
  return Value.Check(ErrorBodySchema, value) ? value.error : JSON.stringify(value).slice(0, 200);
}
