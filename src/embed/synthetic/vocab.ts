/**
 * BERT WordPiece tokenizer.json documents: built from a vocabulary list the way HuggingFace's
 * `BertTokenizerFast` converter does it (BertNormalizer, BertPreTokenizer, WordPiece with "##" continuation,
 * "[CLS] $A [SEP]" template). Used to load a model directory that only has a vocab.txt, and to give generated
 * test models a small vocabulary of their own.
 */

export interface BertTokenizerOptions {
  lowercase?: boolean;
  unkToken?: string;
  clsToken?: string;
  sepToken?: string;
  padToken?: string;
  maskToken?: string;
}

/** Parses a vocab.txt: one word piece per line, the line number is the id. */
export function parseVocabTxt(text: string): string[] {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

export function vocabTxt(vocab: readonly string[]): string {
  return vocab.join('\n') + '\n';
}

/** A tokenizer.json object for a BERT WordPiece vocabulary. Throws when a special token is missing. */
export function bertTokenizerJson(
  vocab: readonly string[],
  opts: BertTokenizerOptions = {},
): Record<string, unknown> {
  const unk = opts.unkToken ?? '[UNK]';
  const cls = opts.clsToken ?? '[CLS]';
  const sep = opts.sepToken ?? '[SEP]';
  const pad = opts.padToken ?? '[PAD]';
  const mask = opts.maskToken ?? '[MASK]';
  const ids = new Map<string, number>();
  vocab.forEach((tok, i) => {
    if (!ids.has(tok)) ids.set(tok, i);
  });
  const idOf = (tok: string): number => {
    const id = ids.get(tok);
    if (id === undefined) throw new Error(`vocabulary has no ${tok} token`);
    return id;
  };
  const specials = [pad, unk, cls, sep, mask]
    .filter((t) => ids.has(t))
    .map((t) => ({ id: idOf(t), t }))
    .sort((a, b) => a.id - b.id);
  const clsId = idOf(cls);
  const sepId = idOf(sep);
  idOf(unk);
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map(({ id, t }) => ({
      id,
      special: true,
      content: t,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
    })),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: opts.lowercase ?? true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: cls, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: sep, type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: cls, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: sep, type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: sep, type_id: 1 } },
      ],
      special_tokens: {
        [cls]: { id: cls, ids: [clsId], tokens: [cls] },
        [sep]: { id: sep, ids: [sepId], tokens: [sep] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: unk,
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(ids),
    },
  };
}

const TINY_WORDS = (
  'the of and to in a is that for with as was on by are be this from at or an were which it not ' +
  'we have has these been can also between more than after patients study cell cells protein gene ' +
  'expression data results analysis treatment disease using used high low clinical risk group groups ' +
  'effect effects levels model method methods during both however our increased associated ' +
  'significantly compared control response human mice blood health care time age year years two ' +
  'three one new type factor factors rate total p ci'
).split(' ');

const TINY_SUFFIXES = ['ing', 'ed', 's', 'es', 'er', 'ly', 'tion', 'al', 'ic', 'ity', 'ment', 'ness', 'ive'];

/**
 * A small deterministic WordPiece vocabulary (~270 pieces): specials, every ASCII letter, digit and
 * punctuation mark alone and as a "##" continuation, some frequent English/biomedical words and suffixes.
 * Any ASCII text tokenizes without [UNK]; other scripts come out as [UNK].
 */
export function tinyVocab(): string[] {
  const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
  const chars: string[] = [];
  for (let c = 33; c < 127; c++) {
    const ch = String.fromCharCode(c);
    if (ch >= 'A' && ch <= 'Z') continue; // lowercased by the normalizer
    chars.push(ch);
  }
  vocab.push(...chars);
  vocab.push(...chars.filter((c) => /[a-z0-9]/.test(c)).map((c) => `##${c}`));
  for (const w of TINY_WORDS) if (!vocab.includes(w)) vocab.push(w);
  for (const s of TINY_SUFFIXES) if (!vocab.includes(`##${s}`)) vocab.push(`##${s}`);
  return vocab;
}
