/**
 * The DatasetState resource: the one source of truth for its shape. The TypeScript types, the defaults, the
 * validation of manifests and flags, and the CRD's OpenAPI schema (crds/, via ./crd.ts) all come from here.
 */
import { Type, type Static, type TLiteral, type TSchema, type TUnion } from '@sinclair/typebox';
import { IDENTIFIER } from './identifiers.ts';

export const GROUP = 'datastate.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'DatasetState';
export const PLURAL = 'datasetstates';
export const SINGULAR = 'datasetstate';
export const SHORT_NAMES = ['dss'];

/** A string enum, as a union of literals (the CRD generator turns it into `type: string, enum: [...]`). */
function StringEnum<const T extends readonly string[]>(
  values: T,
  options: { default?: T[number]; description?: string } = {},
): TUnion<TLiteral<T[number]>[]> {
  return Type.Union(
    values.map((v) => Type.Literal(v)),
    options,
  ) as TUnion<TLiteral<T[number]>[]>;
}

export const TARGET_STATES = ['ragas-eval', 'token-embeddings', 'documents'] as const;
export const MODES = ['AutoFix', 'ValidateOnly', 'DryRun'] as const;
export const ORDER_BY = ['doc_id', 'newest', 'random'] as const;
export const DIALECTS = ['sqlite', 'postgres', 'iris'] as const;
export const SOURCE_TYPES = ['pmc-xml', 'jsonl', 'synthetic'] as const;
export const CONVENTIONS = ['auto', 'colbert', 'none'] as const;

export const SelectionSchema = Type.Object(
  {
    orderBy: StringEnum(ORDER_BY, {
      default: 'doc_id',
      description:
        'Order in which documents enter the target set: doc_id ascending, newest publication first, or random with a seed.',
    }),
    seed: Type.Integer({ default: 0, minimum: 0, description: 'Seed for orderBy=random.' }),
  },
  {
    default: {},
    additionalProperties: false,
    description: 'Which documents form the target set; always deterministic.',
  },
);

export const SecretKeyRefSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, description: 'Secret in the same namespace.' }),
    key: Type.String({
      minLength: 1,
      default: 'url',
      description: 'Key holding the connection URL or ODBC connection string.',
    }),
  },
  { additionalProperties: false },
);

/** The schema and table names a dataset lives in unless the spec names others (the one place they are written). */
export const DEFAULT_SCHEMA = 'RAG';
export const DEFAULT_TABLES = {
  sourceDocuments: 'SourceDocuments',
  tokenEmbeddings: 'DocumentTokenEmbeddings',
  ledger: 'DocumentEmbeddingLedger',
} as const;

export const TablesSchema = Type.Object(
  {
    sourceDocuments: Type.String({ default: DEFAULT_TABLES.sourceDocuments, pattern: IDENTIFIER }),
    tokenEmbeddings: Type.String({ default: DEFAULT_TABLES.tokenEmbeddings, pattern: IDENTIFIER }),
    ledger: Type.String({ default: DEFAULT_TABLES.ledger, pattern: IDENTIFIER }),
  },
  { default: {}, additionalProperties: false },
);

/**
 * Which column of the consumer's tables holds what (the defaults are the tables datastate creates). The keys are
 * datastate's names for the values; the values are the columns' names in the database.
 */
export const DEFAULT_COLUMNS = {
  sourceDocuments: {
    docId: 'doc_id',
    title: 'title',
    abstract: 'abstract',
    authors: 'authors',
    keywords: 'keywords',
    pubDate: 'pub_date',
    origin: 'origin',
    contentHash: 'content_hash',
    loadedAt: 'loaded_at',
    textContent: 'text_content',
  },
  tokenEmbeddings: {
    docId: 'doc_id',
    tokenIndex: 'token_index',
    tokenText: 'token_text',
    embedding: 'token_embedding',
  },
} as const;

function columnFields<T extends Record<string, string>>(defaults: T, what: Record<keyof T, string>) {
  const props: Record<string, TSchema> = {};
  for (const [key, name] of Object.entries(defaults))
    props[key] = Type.String({ default: name, pattern: IDENTIFIER, description: what[key as keyof T] });
  return props as { [K in keyof T]: ReturnType<typeof Type.String> };
}

export const ColumnsSchema = Type.Object(
  {
    sourceDocuments: Type.Object(
      columnFields(DEFAULT_COLUMNS.sourceDocuments, {
        docId: 'Document id (the primary key).',
        title: 'Title.',
        abstract: 'Abstract: the text that is embedded.',
        authors: 'Authors, a JSON array.',
        keywords: 'Keywords, a JSON array.',
        pubDate: 'Publication date (ISO 8601 text).',
        origin: 'Where the document was loaded from.',
        contentHash:
          "sha256 of the abstract, kept by datastate (cleared by its trigger when the abstract changes behind datastate's back).",
        loadedAt: 'When datastate loaded the document.',
        textContent: 'Body text.',
      }),
      { default: {}, additionalProperties: false },
    ),
    tokenEmbeddings: Type.Object(
      columnFields(DEFAULT_COLUMNS.tokenEmbeddings, {
        docId: 'Document id.',
        tokenIndex: 'Position of the token row in its document (0, 1, ...); with docId the primary key.',
        tokenText: 'The token (a word piece).',
        embedding: "The token's vector, of embedding.dimension floats.",
      }),
      { default: {}, additionalProperties: false },
    ),
  },
  {
    default: {},
    additionalProperties: false,
    description:
      "Column names of the source and token tables, so datastate can keep the consumer's own tables in state. Other columns of those tables are left alone (NULL or their default on the rows datastate writes).",
  },
);

export const DatabaseSchema = Type.Object(
  {
    dialect: StringEnum(DIALECTS, { default: 'sqlite' }),
    url: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'Connection URL (sqlite file path or sqlite:PATH, postgres://..., odbc:...). Credentials belong in connectionSecretRef.',
      }),
    ),
    connectionSecretRef: Type.Optional(SecretKeyRefSchema),
    schema: Type.String({ default: DEFAULT_SCHEMA, pattern: IDENTIFIER }),
    tables: TablesSchema,
    columns: ColumnsSchema,
    lockTimeoutMs: Type.Integer({
      default: 10000,
      minimum: 1,
      description:
        'Longest wait for a lock another session holds (PostgreSQL lock_timeout; SQLite busy wait, off the event loop); then the statement fails and is retried with healing.backoff.',
    }),
    statementTimeoutMs: Type.Integer({
      default: 300000,
      minimum: 1,
      description:
        'Longest run of one statement (PostgreSQL statement_timeout; ODBC query timeout, in whole seconds); then it fails and is retried with healing.backoff.',
    }),
    vectorPrecision: StringEnum(['float32', 'float16'], {
      default: 'float32',
      description:
        "How the token table stores each vector float: float32 (4 bytes, exact) or float16 (2 bytes, IEEE half: ~3 significant digits). float16 is a SQLite BLOB of 2 x dimension bytes or pgvector's halfvec(n); refused on PostgreSQL without pgvector and on IRIS. Switching it on an existing dataset is a schema problem: recreate the token table (every document is embedded again).",
    }),
  },
  { default: {}, additionalProperties: false },
);

export const SourceSchema = Type.Object(
  {
    type: Type.Optional(
      StringEnum(SOURCE_TYPES, {
        description:
          'pmc-xml: a directory tree or .tar.gz of PMC JATS XML; jsonl: one JSON document per line; synthetic: a generated corpus (not real text). Default: inferred from path; synthetic without a path.',
      }),
    ),
    path: Type.Optional(Type.String({ minLength: 1 })),
  },
  { default: {}, additionalProperties: false, description: 'Where missing documents come from.' },
);

export const EmbeddingSchema = Type.Object(
  {
    modelPath: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'Model directory (model.onnx + tokenizer.json). Default: the generated synthetic BERT-base model.',
      }),
    ),
    tokenizerPath: Type.Optional(
      Type.String({ minLength: 1, description: 'tokenizer.json, when not inside modelPath.' }),
    ),
    dimension: Type.Integer({ default: 768, minimum: 1, maximum: 65536 }),
    maxTokens: Type.Optional(
      Type.Integer({
        minimum: 8,
        maximum: 8192,
        description:
          "Most tokens per model input, special tokens included. Default: the ColBERT docMaxLen under ColBERT conventions, else the model directory's maxTokens, else 512 (at most the model's positions).",
      }),
    ),
    stride: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: 'When set, long documents are embedded in overlapping windows instead of truncated.',
      }),
    ),
    modelId: Type.Optional(Type.String({ minLength: 1 })),
    normalize: Type.Boolean({
      default: true,
      description: 'L2-normalize every token vector (ColBERT does).',
    }),
    keepSpecialTokens: Type.Optional(
      Type.Boolean({
        description:
          'Keep [CLS]/[SEP] (and ColBERT marker) vectors. Default: true under ColBERT conventions (ColBERT keeps them), else false.',
      }),
    ),
    conventions: StringEnum(CONVENTIONS, {
      default: 'auto',
      description:
        'Document conventions: auto follows the model directory\'s embedder.json (a "colbert" block declares ColBERT\'s: [D] marker after [CLS], punctuation vectors skipped, doc_maxlen, L2 normalization); colbert forces them; none turns them off.',
    }),
  },
  { default: {}, additionalProperties: false },
);

export const BackoffSchema = Type.Object(
  {
    initialMs: Type.Integer({ default: 500, minimum: 1 }),
    maxMs: Type.Integer({ default: 30000, minimum: 1 }),
  },
  { default: {}, additionalProperties: false },
);

export const HealingSchema = Type.Object(
  {
    batchSize: Type.Union([Type.Literal('auto'), Type.Integer({ minimum: 1, maximum: 10000 })], {
      default: 'auto',
      description: 'Documents per batch (one transaction each), or auto: chosen from docCount.',
    }),
    maxRetries: Type.Integer({ default: 3, minimum: 0, maximum: 100 }),
    backoff: BackoffSchema,
    forceRegenerate: Type.Boolean({
      default: false,
      description: 'Re-embed every document of the target set.',
    }),
    concurrency: Type.Integer({
      default: 1,
      minimum: 1,
      maximum: 64,
      description: 'Batches in flight at once.',
    }),
  },
  { default: {}, additionalProperties: false },
);

export const WorkersSchema = Type.Object(
  {
    image: Type.Optional(Type.String({ minLength: 1 })),
    minReplicas: Type.Integer({ default: 0, minimum: 0 }),
    maxReplicas: Type.Integer({ default: 4, minimum: 0 }),
    resources: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    threads: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 64,
        description:
          "onnxruntime intra-op threads of each worker Pod's model session (one session per Pod). Default: one session per core the Pod sees, split over them. Match it to the worker's CPU limit, e.g. 1 with resources.limits.cpu 1.",
      }),
    ),
  },
  { default: {}, additionalProperties: false },
);

export const SpecSchema = Type.Object(
  {
    targetState: StringEnum(TARGET_STATES, {
      default: 'ragas-eval',
      description:
        'ragas-eval: docCount documents with valid abstracts, each with complete current token embeddings, schema intact. token-embeddings: only the embeddings part. documents: only the documents part.',
    }),
    docCount: Type.Integer({
      minimum: 1,
      maximum: 100000000,
      description: 'How many documents the target set holds.',
    }),
    mode: StringEnum(MODES, { default: 'AutoFix' }),
    selection: SelectionSchema,
    database: DatabaseSchema,
    source: SourceSchema,
    embedding: EmbeddingSchema,
    healing: HealingSchema,
    workers: WorkersSchema,
  },
  { additionalProperties: false },
);

export const ConditionSchema = Type.Object({
  type: Type.String(),
  status: StringEnum(['True', 'False', 'Unknown'] as const),
  reason: Type.String(),
  message: Type.String(),
  lastTransitionTime: Type.String({ format: 'date-time' }),
  observedGeneration: Type.Optional(Type.Integer()),
});

export const CheckResultSchema = Type.Object({
  name: Type.String(),
  passed: Type.Boolean(),
  message: Type.String(),
  actual: Type.Optional(Type.Integer()),
  target: Type.Optional(Type.Integer()),
  /** Up to a few example doc ids (or schema objects) that fail the check. */
  examples: Type.Optional(Type.Array(Type.String())),
});

export const PlanSummarySchema = Type.Object({
  documentsToLoad: Type.Integer(),
  embeddingsMissing: Type.Integer(),
  embeddingsStale: Type.Integer(),
  embeddingsToDelete: Type.Integer(),
  batches: Type.Integer(),
  batchSize: Type.Integer(),
  estimatedSeconds: Type.Optional(Type.Number()),
  /** Where estimatedSeconds comes from: measured by earlier heals of this model (the ledger), or assumed. */
  estimateFrom: Type.Optional(Type.String()),
});

export const ProgressSchema = Type.Object({
  processed: Type.Integer(),
  total: Type.Integer(),
  percent: Type.Number(),
  rate: Type.Number({ description: 'documents per second' }),
  etaSeconds: Type.Optional(Type.Number()),
  startedAt: Type.Optional(Type.String()),
});

export const PHASES = ['Pending', 'Validating', 'Healing', 'Ready', 'Degraded', 'Failed'] as const;

export const StatusSchema = Type.Object({
  observedGeneration: Type.Optional(Type.Integer()),
  phase: Type.Optional(StringEnum(PHASES)),
  documents: Type.Optional(
    Type.Integer({ description: 'Documents in the target set that are present with a valid abstract.' }),
  ),
  embedded: Type.Optional(
    Type.Integer({ description: 'Documents in the target set with complete, current token embeddings.' }),
  ),
  conditions: Type.Optional(Type.Array(ConditionSchema)),
  checks: Type.Optional(Type.Array(CheckResultSchema)),
  plan: Type.Optional(PlanSummarySchema),
  progress: Type.Optional(ProgressSchema),
  lastError: Type.Optional(Type.String()),
  lastReconcileTime: Type.Optional(Type.String()),
});

export const MetadataSchema = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    namespace: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);

export const ManifestSchema = Type.Object({
  apiVersion: Type.Literal(API_VERSION),
  kind: Type.Literal(KIND),
  metadata: MetadataSchema,
  spec: SpecSchema,
  status: Type.Optional(StatusSchema),
});

export type DatasetStateSpec = Static<typeof SpecSchema>;
export type DatasetStateStatus = Static<typeof StatusSchema>;
export type DatasetStateManifest = Static<typeof ManifestSchema>;
export type Condition = Static<typeof ConditionSchema>;
export type CheckResult = Static<typeof CheckResultSchema>;
export type PlanSummary = Static<typeof PlanSummarySchema>;
export type Progress = Static<typeof ProgressSchema>;
export type Phase = (typeof PHASES)[number];
export type TargetState = (typeof TARGET_STATES)[number];
export type Mode = (typeof MODES)[number];
export type OrderBy = (typeof ORDER_BY)[number];
export type Dialect = (typeof DIALECTS)[number];

export type AnySchema = TSchema;
