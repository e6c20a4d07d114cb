/**
 * Tokenizer check on the PMC corpus (not a test): does the embedder's tokenizer (@huggingface/tokenizers, pure
 * JS) give the same word pieces, id for id, as HuggingFace's Rust `tokenizers` (a devDependency), and how long
 * does each take? Also prints the corpus' token statistics with the bert-base-uncased tokenizer.
 *
 *   node bench/embed-tokenizer.ts [--corpus PATH] [--tokenizer-dir DIR]
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import rust from 'tokenizers';
import { BERT_BASE_UNCASED_TOKENIZER_DIR, loadTokenizer } from '../src/embed/index.ts';
import { DEFAULT_CORPUS, loadAbstracts } from './embed-corpus.ts';

const { values } = parseArgs({
  options: {
    corpus: { type: 'string', default: DEFAULT_CORPUS },
    'tokenizer-dir': { type: 'string', default: BERT_BASE_UNCASED_TOKENIZER_DIR },
  },
});
const { docs, reader } = await loadAbstracts(values.corpus);
console.log(`${docs.length} abstracts from ${values.corpus} via ${reader}`);

const ours = await loadTokenizer(values['tokenizer-dir']);
let t0 = performance.now();
const oursOut = docs.map((d) => ours.encode(d.text));
const oursMs = performance.now() - t0;

const ref = rust.Tokenizer.fromFile(path.join(values['tokenizer-dir'], 'tokenizer.json'));
ref.disableTruncation();
ref.disablePadding();
t0 = performance.now();
const refOut = await ref.encodeBatch(
  docs.map((d) => d.text),
  { addSpecialTokens: false },
);
const refMs = performance.now() - t0;

let mismatched = 0;
docs.forEach((d, i) => {
  const a = oursOut[i]!.ids;
  const b = refOut[i]!.getIds();
  if (a.length !== b.length || a.some((x, j) => x !== b[j])) {
    mismatched++;
    if (mismatched <= 3) {
      const j = a.findIndex((x, k) => x !== b[k]);
      console.log(
        `  differs: ${d.docId} at piece ${j}: ours ${oursOut[i]!.tokens.slice(j, j + 5).join(' ')} | hf ${refOut[
          i
        ]!.getTokens()
          .slice(j, j + 5)
          .join(' ')}`,
      );
    }
  }
});
const lens = oursOut.map((e) => e.ids.length).sort((x, y) => x - y);
const total = lens.reduce((x, y) => x + y, 0);
console.log(
  `agreement with HuggingFace tokenizers (Rust): ${docs.length - mismatched}/${docs.length} abstracts identical id for id`,
);
console.log(
  `word pieces: total ${total}, mean ${(total / docs.length).toFixed(1)}, max ${lens.at(-1)}, > 510: ${lens.filter((n) => n > 510).length}`,
);
console.log(
  `time: @huggingface/tokenizers ${oursMs.toFixed(0)} ms, Rust tokenizers encodeBatch ${refMs.toFixed(0)} ms`,
);
