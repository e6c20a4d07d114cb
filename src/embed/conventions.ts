/**
 * ColBERT's document conventions, as its source (stanford-futuredata/ColBERT) applies them when it encodes a
 * document (docs/embedding.md, "ColBERT conventions", cites the files):
 * - a marker token after [CLS]: `[D]`, which is the vocabulary's `[unused1]` (TokenizerSettings.doc_token_id;
 *   DocTokenizer.tensorize puts it at position 1);
 * - the document length limit doc_maxlen, counted with [CLS], [D] and [SEP] (DocSettings.doc_maxlen, 220);
 * - punctuation skipped: no vector for a token in the skiplist, built from Python's string.punctuation (each
 *   symbol and the first id the tokenizer gives it; ColBERT.__init__, mask_punctuation: true), nor for padding;
 * - every kept vector L2-normalized (ColBERT.doc: torch.nn.functional.normalize(D, p=2, dim=2)).
 * ColBERT keeps the vectors of [CLS], [D] and [SEP]: only punctuation and padding are masked.
 *
 * Pure: resolving the settings and building the skiplist from a tokenizer's lookups.
 */

/** ColBERTv2's document marker in the bert-base-uncased vocabulary. */
export const COLBERT_V2_MARKER = '[unused1]';
/** ColBERT's DocSettings.doc_maxlen default. */
export const COLBERT_V2_DOC_MAXLEN = 220;
/** Python's string.punctuation: the symbols of ColBERT's skiplist. */
export const ASCII_PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

/** What the spec (or loadEmbedder's option) asks for: follow embedder.json, force ColBERT's, or none. */
export const CONVENTION_CHOICES = ['auto', 'colbert', 'none'] as const;
export type ConventionChoice = (typeof CONVENTION_CHOICES)[number];

/** embedder.json's "colbert" block: its presence declares the conventions (fields default to ColBERTv2's). */
export interface ColbertDeclaration {
  marker?: string | null;
  skipPunctuation?: boolean;
  docMaxLen?: number;
}

/** The resolved conventions (null: none). */
export interface ColbertConventions {
  /** Token inserted after the first special token ([CLS]); null: no marker. */
  marker: string | null;
  skipPunctuation: boolean;
  /** Default for maxTokens: most tokens per model input, special tokens and marker included. */
  docMaxLen: number;
}

export function resolveConventions(
  choice: ConventionChoice,
  declared: ColbertDeclaration | undefined,
): ColbertConventions | null {
  if (choice === 'none') return null;
  if (choice === 'auto' && declared === undefined) return null;
  return {
    marker: declared?.marker === undefined ? COLBERT_V2_MARKER : declared.marker,
    skipPunctuation: declared?.skipPunctuation ?? true,
    docMaxLen: declared?.docMaxLen ?? COLBERT_V2_DOC_MAXLEN,
  };
}

/**
 * ColBERT's skiplist as token ids: for each symbol of string.punctuation, its own id (when the vocabulary has
 * it) and the first id the tokenizer encodes it to.
 */
export function punctuationSkiplist(
  idOf: (token: string) => number | undefined,
  encode: (text: string) => number[],
): Set<number> {
  const out = new Set<number>();
  for (const symbol of ASCII_PUNCTUATION) {
    const own = idOf(symbol);
    if (own !== undefined) out.add(own);
    const first = encode(symbol)[0];
    if (first !== undefined) out.add(first);
  }
  return out;
}
