/**
 * Tokenizer loading with @huggingface/tokenizers (pure JS, offline, synchronous; agrees id for id with
 * HuggingFace's Rust `tokenizers` on the texts in test/unit/embed-tokenizer.test.ts).
 *
 * A model directory's tokenizer.json is used when present, else its vocab.txt is turned into the equivalent
 * BERT WordPiece tokenizer. Truncation and padding settings inside tokenizer.json are removed: the embedder
 * truncates, windows and pads itself.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { ModelLoadError } from './errors.ts';
import { TOKENIZER_FILE, VOCAB_FILE, readIfExists, tokenizerFileOf } from './model-dir.ts';
import { bertTokenizerJson, parseVocabTxt } from './synthetic/vocab.ts';

export interface Pieces {
  ids: number[];
  tokens: string[];
}

export interface LoadedTokenizer {
  /** The file it was built from (tokenizer.json or vocab.txt). */
  readonly file: string;
  readonly kind: 'tokenizer.json' | 'vocab.txt';
  /** Special tokens the model expects before / after the text (e.g. [CLS] / [SEP]). */
  readonly prefix: Pieces;
  readonly suffix: Pieces;
  /** Id used for padding positions (masked out; never produces a vector). */
  readonly padId: number;
  /** Ids the tokenizer can produce: its largest id + 1 (the rows a model's embedding matrix needs). */
  readonly vocabSize: number;
  /** The id of a token of the vocabulary (special tokens included), or undefined. */
  idOf(token: string): number | undefined;
  /** The token of an id, or undefined. */
  tokenOf(id: number): string | undefined;
  /** Word pieces of a text, without special tokens. Throws on tokenizer failure. */
  encode(text: string): Pieces;
}

const PROBE = 'hello world';

function padIdOf(json: Record<string, unknown>, tok: Tokenizer): number {
  const padding = json.padding as { pad_id?: unknown } | null | undefined;
  if (padding && typeof padding.pad_id === 'number') return padding.pad_id;
  for (const t of ['[PAD]', '<pad>', '<PAD>']) {
    const id = tok.token_to_id(t);
    if (id !== undefined) return id;
  }
  return 0;
}

/** Builds a LoadedTokenizer from a tokenizer.json object. `file` is used in messages. */
export function tokenizerFromJson(
  json: Record<string, unknown>,
  file: string,
  kind: LoadedTokenizer['kind'],
): LoadedTokenizer {
  let tok: Tokenizer;
  let padId: number;
  let prefix: Pieces;
  let suffix: Pieces;
  try {
    // The library ignores these today; remove them anyway so no future version honours them.
    const clean = { ...json, truncation: null, padding: null };
    tok = new Tokenizer(clean, {});
    padId = padIdOf(json, tok);
    // Find which special tokens the post-processor puts around a single text.
    // (the package's .d.ts files use extensionless imports, which nodenext cannot follow: type them here)
    const bare: Pieces = tok.encode(PROBE, { add_special_tokens: false });
    const full: Pieces = tok.encode(PROBE, { add_special_tokens: true });
    let at = -1;
    for (let i = 0; i + bare.ids.length <= full.ids.length; i++) {
      if (bare.ids.every((id, j) => full.ids[i + j] === id)) {
        at = i;
        break;
      }
    }
    if (bare.ids.length === 0 || at < 0)
      throw new Error('cannot tell its special tokens apart from the text');
    const end = at + bare.ids.length;
    prefix = { ids: full.ids.slice(0, at), tokens: full.tokens.slice(0, at) };
    suffix = { ids: full.ids.slice(end), tokens: full.tokens.slice(end) };
  } catch (e) {
    throw new ModelLoadError(file, `not a usable tokenizer: ${(e as Error).message}`, { cause: e });
  }
  let vocabSize = 0;
  for (const id of (tok.get_vocab(true) as Map<string, number>).values())
    vocabSize = Math.max(vocabSize, id + 1);
  return {
    file,
    kind,
    prefix,
    suffix,
    padId,
    vocabSize,
    idOf: (token: string): number | undefined => tok.token_to_id(token) ?? undefined,
    tokenOf: (id: number): string | undefined => tok.id_to_token(id) ?? undefined,
    encode(text: string): Pieces {
      const e: Pieces = tok.encode(text, { add_special_tokens: false });
      return { ids: e.ids, tokens: e.tokens };
    },
  };
}

function fromJsonText(text: string, file: string): LoadedTokenizer {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ModelLoadError(file, `is not valid JSON (corrupt or truncated?): ${(e as Error).message}`, {
      cause: e,
    });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ModelLoadError(file, 'is not a tokenizer.json object');
  }
  return tokenizerFromJson(json as Record<string, unknown>, file, 'tokenizer.json');
}

function fromVocabText(text: string, file: string, lowercase: boolean): LoadedTokenizer {
  let json: Record<string, unknown>;
  try {
    json = bertTokenizerJson(parseVocabTxt(text), { lowercase });
  } catch (e) {
    throw new ModelLoadError(file, `not a BERT WordPiece vocabulary: ${(e as Error).message}`, { cause: e });
  }
  return tokenizerFromJson(json, file, 'vocab.txt');
}

/**
 * Loads the tokenizer of a model directory: tokenizer.json, else vocab.txt (BERT WordPiece, lowercased unless
 * `lowercase: false`). `file` names a tokenizer.json or vocab.txt elsewhere to use instead.
 */
export async function loadTokenizer(
  dir: string,
  opts: { lowercase?: boolean; file?: string } = {},
): Promise<LoadedTokenizer> {
  const file = await tokenizerFileOf(dir, opts.file);
  if (file === null) {
    throw new ModelLoadError(
      dir,
      `no tokenizer: the model directory needs a ${TOKENIZER_FILE} (HuggingFace) or a ${VOCAB_FILE} (WordPiece)`,
    );
  }
  const text = await readIfExists(file);
  if (text === null) throw new ModelLoadError(file, 'missing: no such tokenizer file');
  if (file.endsWith('.txt')) return fromVocabText(text, file, opts.lowercase ?? true);
  return fromJsonText(text, file);
}
