/**
 * Domain types shared by the pure core and the adapters. No I/O here.
 */

/** One source document as stored in RAG.SourceDocuments. */
export interface DocumentRecord {
  /** Stable id, e.g. the PMCID ("PMC1234567"). */
  docId: string;
  title: string;
  /** The abstract, sections joined with blank lines; "" when the article has none. */
  abstract: string;
  /** Body text (may be ""). */
  textContent: string;
  authors: string[];
  keywords: string[];
  /** Publication date as ISO yyyy-mm-dd (or yyyy-mm, yyyy) when known; used by selection orderBy=newest. */
  pubDate?: string;
  /** Where it came from (file path inside the source), for error messages. */
  origin?: string;
}

/** What a document source yields: a document, or a file it could not read (reported, skipped). */
export type SourceItem = { ok: true; doc: DocumentRecord } | { ok: false; origin: string; reason: string };

/** Per-token vectors of one document: tokens.length vectors of `dimension` floats, row-major. */
export interface TokenEmbedding {
  docId: string;
  /** Word piece text of each kept token, in order. */
  tokens: string[];
  /** tokens.length * dimension float32 values. */
  vectors: Float32Array;
  dimension: number;
}

/** Outcome of embedding one document: vectors, or a reason that belongs to this document alone. */
export type EmbedOutcome = ({ ok: true } & TokenEmbedding) | { ok: false; docId: string; reason: string };

/** The ledger row written with a document's token rows, in the same transaction. */
export interface LedgerEntry {
  docId: string;
  modelFingerprint: string;
  contentHash: string;
  tokenCount: number;
  dimension: number;
  embeddedAt: string;
}
