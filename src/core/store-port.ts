/**
 * The Store port: everything the engine needs from the database that holds a dataset. src/store implements it:
 * one SQL core (sql-store.ts) with a dialect and a driver client per database. Inspection methods run a few set
 * queries and never read vectors; every write method is one transaction, so a crash never leaves a
 * half-written document.
 */
import type { DocumentRecord, LedgerEntry, TokenEmbedding } from './types.ts';

/** What the schema must look like. */
export interface SchemaExpectation {
  /** Declared vector dimension (token_embedding holds exactly this many float32 values). */
  dimension: number;
}

/** One way the live schema differs from the expected one, with the exact statement(s) that fix it. */
export interface SchemaProblem {
  /** missing: the object does not exist and createSchema() makes it; mismatch: it exists but differs. */
  kind: 'missing' | 'mismatch';
  /** Table, column or index concerned, e.g. "RAG.DocumentTokenEmbeddings.token_embedding". */
  object: string;
  problem: string;
  /** DDL that fixes it, in the store's own dialect. */
  fix: string;
  /**
   * Set when the token table's vector column has another dimension than declared: the live one. An empty token
   * table of another dimension is recreated by healing (rebuildTokenTable); a non-empty one stops it.
   */
  liveDimension?: number;
  /**
   * Set when the problem costs only time, not correctness (the token-row counter: without it inspection counts
   * every token row, with the same result): the schema check still passes and names it; healing fixes it.
   */
  advisory?: boolean;
}

export interface SchemaReport {
  /** True when every table, column, type, dimension and index is as expected. */
  ok: boolean;
  /** True when none of the tables exist yet (a fresh database: creating the schema is safe). */
  empty: boolean;
  /**
   * True when some of the tables exist and some do not (e.g. the consumer's own token table, made before
   * datastate ran): nothing can be counted until createSchema() has made the rest.
   */
  partial?: boolean;
  problems: SchemaProblem[];
}

/** A document that may be in the target set: it has a non-empty abstract. Ids and small facts only. */
export interface Candidate {
  docId: string;
  pubDate: string | null;
  /** Length of the trimmed abstract in characters. */
  abstractLength: number;
  /** The abstract itself when it is short (< 64 chars), so the core can tell placeholders apart. */
  shortAbstract: string | null;
}

/** What the store knows about one target document's embeddings. */
export interface EmbeddingState {
  docId: string;
  /** sha256 of the document's current abstract; null when it changed behind our back (trigger) or is unknown. */
  contentHash: string | null;
  /** The ledger row, or null when the document has never been completely embedded. */
  ledger: Omit<LedgerEntry, 'docId'> | null;
  /** How many token rows exist for the document right now. */
  tokenRows: number;
  /** Lowest and highest token_index of those rows (with a unique key, 0 and tokenRows-1 when in sequence). */
  firstIndex?: number;
  lastIndex?: number;
}

export interface StoreCounts {
  /** Rows in SourceDocuments. */
  documents: number;
  /** Rows with a non-empty (trimmed) abstract. */
  documentsWithAbstract: number;
  /** Distinct documents that have at least one token row. */
  documentsWithTokens: number;
  /** Token rows in all. */
  tokenRows: number;
  /** Distinct doc_ids that have token rows (or ledger rows) but no SourceDocuments row. */
  orphanDocIds: string[];
}

/** A document to write, with its content hash computed by the caller. */
export interface DocumentWrite extends DocumentRecord {
  contentHash: string;
}

/** The text to embed for one document, with its current content hash. */
export interface DocumentText {
  docId: string;
  text: string;
  contentHash: string;
}

/** A document's complete set of token rows and its ledger row, written all together or not at all. */
export interface EmbeddingWrite {
  embedding: TokenEmbedding;
  ledger: LedgerEntry;
}

export interface Store {
  /** "sqlite", "postgres", "iris", ... */
  readonly dialect: string;
  /** A description safe to print (no credentials). */
  readonly description: string;

  /** Compares the live schema with the expectation. Never changes anything. */
  checkSchema(expect: SchemaExpectation): Promise<SchemaReport>;
  /** Creates whatever tables, indexes and triggers are missing. Never alters or drops existing ones. */
  createSchema(expect: SchemaExpectation): Promise<void>;
  /**
   * Recreates the token table at the expected dimension (and clears the ledger) when its vector column has
   * another dimension and it holds no rows, checked under a lock in the same transaction. A table that holds
   * rows is never dropped: that throws, naming the DDL. Nothing to do when the dimension is right.
   */
  rebuildEmptyTokenTable(expect: SchemaExpectation): Promise<void>;

  counts(): Promise<StoreCounts>;
  /** Every document with a non-empty abstract: ids and small facts, never texts or vectors. */
  candidates(): Promise<Candidate[]>;
  /** Embedding state of the given documents (ledger + actual token row counts). */
  embeddingStates(docIds: readonly string[]): Promise<EmbeddingState[]>;
  /** Which of these doc ids already exist in SourceDocuments. */
  existingDocIds(docIds: readonly string[]): Promise<Set<string>>;
  /**
   * Reads the vectors of these documents (the caller bounds how many) and returns, per document with any, the
   * number of token rows whose vector is all zeros or not finite. The only inspection that reads vectors.
   */
  badVectors(docIds: readonly string[]): Promise<Map<string, number>>;

  /** Inserts or replaces documents, in one transaction. */
  upsertDocuments(docs: readonly DocumentWrite[]): Promise<void>;
  /** The abstracts of the given documents (missing ids are left out). Fills in a missing content hash. */
  readTexts(docIds: readonly string[]): Promise<DocumentText[]>;
  /** For each document: delete its token rows, insert the new ones, upsert its ledger row. One transaction. */
  writeEmbeddings(writes: readonly EmbeddingWrite[]): Promise<void>;
  /** Deletes token rows and ledger rows of these doc ids, in one transaction. */
  deleteEmbeddings(docIds: readonly string[]): Promise<void>;

  /** True for errors worth retrying with backoff (lock timeouts, dropped connections). */
  isTransient(error: unknown): boolean;

  close(): Promise<void>;
}

/**
 * What every Store checks before a write reaches its database: the write is self-consistent (the ledger is the
 * embedding's, the floats fill tokens x dimension, the ledger's count and dimension are the vectors').
 */
export function checkWrite(w: EmbeddingWrite): void {
  const e = w.embedding;
  if (e.docId !== w.ledger.docId)
    throw new Error(`embedding write for ${e.docId} carries the ledger of ${w.ledger.docId}`);
  if (e.vectors.length !== e.tokens.length * e.dimension)
    throw new Error(
      `embedding write for ${e.docId}: ${e.vectors.length} floats for ${e.tokens.length} tokens of dimension ${e.dimension}`,
    );
  if (w.ledger.tokenCount !== e.tokens.length || w.ledger.dimension !== e.dimension)
    throw new Error(
      `embedding write for ${e.docId}: ledger says ${w.ledger.tokenCount}x${w.ledger.dimension}, vectors are ${e.tokens.length}x${e.dimension}`,
    );
}
