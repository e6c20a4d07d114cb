/**
 * Ports: what the core and the executor need from the outside world. Adapters (src/store, src/embed,
 * src/corpus) implement these; the core never imports an adapter.
 */
import type { DocumentRecord, EmbedOutcome, SourceItem } from './types.ts';

/** Text to embed for one document. */
export interface EmbedInput {
  docId: string;
  text: string;
}

/**
 * Turns documents into per-token vectors. Implementations must be deterministic for a given model and
 * must never produce vectors for padding. A failure that belongs to one document (empty text, tokenizer
 * error) is returned as { ok: false } for that document; a failure of the whole call (model crashed, out of
 * memory) is thrown.
 */
export interface Embedder {
  /** Human-readable model id (e.g. directory name or configured modelId). */
  readonly modelId: string;
  /**
   * The ledger's model fingerprint: sha256 over a manifest of the model and tokenizer files' digests and the
   * settings that change the vectors (window size, stride, special tokens, normalization, lowercasing).
   */
  readonly fingerprint: string;
  /** Output vector dimension, read from the model. */
  readonly dimension: number;
  /** True when the model has random (generated) weights: outputs and docs must say so. */
  readonly synthetic: boolean;
  embed(docs: EmbedInput[], signal?: AbortSignal): Promise<EmbedOutcome[]>;
  close(): Promise<void>;
}

/** A place documents come from: iterated in a deterministic order. */
export interface DocumentSource {
  /** Human-readable description, e.g. the path. */
  readonly description: string;
  /** True for a generated corpus: outputs and docs must say so. */
  readonly synthetic: boolean;
  items(signal?: AbortSignal): AsyncIterable<SourceItem>;
}

export type { DocumentRecord };
