/**
 * The embedder's tokenizer (@huggingface/tokenizers, pure JS) must agree id for id with HuggingFace's own Rust
 * implementation (`tokenizers`, devDependency) on real and tricky text. bench/embed-tokenizer.ts runs the
 * same comparison over the whole PMC corpus.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import rust from 'tokenizers';
import { BERT_BASE_UNCASED_TOKENIZER_DIR, loadTokenizer, ModelLoadError } from '../../src/embed/index.ts';
import { bertTokenizerJson, tinyVocab } from '../../src/embed/synthetic/vocab.ts';

const SENTENCES = [
  // real abstract-like text
  'Background: Type 2 diabetes mellitus (T2DM) affects ~463 million adults worldwide [1,2].',
  'We sequenced 1,024 tumour–normal pairs; BRCA1/2 pathogenic variants were found in 12.5% (n = 128) of cases.',
  'Overexpression of hypoxia-inducible factor 1α (HIF-1α) correlated with poor prognosis (HR 2.31, 95% CI 1.42–3.76; p < 0.001).',
  'The naïve Bayes classifier outperformed SVMs (AUC 0.91 vs. 0.87) on the held-out set.',
  'Patients’ quality of life — measured by the EQ-5D — improved after 12 weeks.',
  'Immunohistochemistry showed CD8+ T-cell infiltration in 37/52 specimens (71.2 %).',
  'IL-6, TNF-α and IFN-γ levels were ≥ 2× baseline in the LPS-treated group.',
  // tricky: accents, CJK, scripts, symbols, controls, long words, whitespace
  'Crème brûlée, façade, São Paulo, Zürich, Ångström, Łódź, İstanbul.',
  '東京大学の研究者は新しい方法を開発した。北京和上海。서울대학교.',
  'Привет, мир! Γειά σου κόσμε. مرحبا بالعالم. שלום עולם. नमस्ते दुनिया।',
  'Emoji 😀👍🏽 and symbols ©®™ §¶ ∑∫√∞ ≈≠ ← → ⇒ µm °C ‰',
  'tabs\tand\nnewlines\r\nand\u00a0nbsp\u2009thin\u200bzero-width\u200d joiners',
  'control\u0000chars\u0007and\u001bescapes\u007f and soft\u00adhyphen',
  'a'.repeat(120) + ' pneumonoultramicroscopicsilicovolcanoconiosis antidisestablishmentarianism',
  'URLs https://www.ncbi.nlm.nih.gov/pmc/articles/PMC1234567/ and e-mails first.last@example.org',
  'Numbers: 3.14159, 1e-10, −42, 1,000,000, 2019–2021, 10^6, ½ ¾, ①②③, Ⅻ',
  'UPPER lower MiXeD CamelCase snake_case kebab-case dotted.name',
  'Combining: e\u0301 vs é, n\u0303 vs ñ; ligatures ﬁ ﬂ; fullwidth ＡＢＣ１２３',
  'Quotes «guillemets» „German“ \'single\' "double" `back` ‹›',
  '   leading and trailing spaces   ',
];

function rustFromJson(json: object): rust.Tokenizer {
  const t = rust.Tokenizer.fromString(JSON.stringify(json));
  t.disableTruncation();
  t.disablePadding();
  return t;
}

async function rustIds(t: rust.Tokenizer, text: string): Promise<{ ids: number[]; tokens: string[] }> {
  const e = await t.encode(text, null, { addSpecialTokens: false });
  return { ids: e.getIds(), tokens: e.getTokens() };
}

describe('tokenizer agrees with HuggingFace tokenizers (Rust)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'datastate-tok-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('bert-base-uncased tokenizer.json: identical ids and word pieces on every sample', async () => {
    const ours = await loadTokenizer(BERT_BASE_UNCASED_TOKENIZER_DIR);
    assert.equal(ours.kind, 'tokenizer.json');
    const ref = rust.Tokenizer.fromFile(path.join(BERT_BASE_UNCASED_TOKENIZER_DIR, 'tokenizer.json'));
    ref.disableTruncation();
    ref.disablePadding();
    for (const s of SENTENCES) {
      const a = ours.encode(s);
      const b = await rustIds(ref, s);
      assert.deepEqual(a.ids, b.ids, `ids differ on ${JSON.stringify(s)}`);
      assert.deepEqual(a.tokens, b.tokens, `tokens differ on ${JSON.stringify(s)}`);
    }
  });

  it('finds [CLS]/[SEP] around the text and the [PAD] id', async () => {
    const ours = await loadTokenizer(BERT_BASE_UNCASED_TOKENIZER_DIR);
    assert.deepEqual(ours.prefix, { ids: [101], tokens: ['[CLS]'] });
    assert.deepEqual(ours.suffix, { ids: [102], tokens: ['[SEP]'] });
    assert.equal(ours.padId, 0);
    assert.equal(ours.vocabSize, 30522);
  });

  it("ignores the file's truncation 128 and fixed padding 128", async () => {
    const ours = await loadTokenizer(BERT_BASE_UNCASED_TOKENIZER_DIR);
    const long = 'word '.repeat(300);
    assert.equal(ours.encode(long).ids.length, 300);
    assert.equal(ours.encode('one two').ids.length, 2);
  });

  it('a vocab.txt-only directory tokenizes exactly like bert-base-uncased tokenizer.json', async () => {
    const d = path.join(dir, 'vocab-only');
    await mkdir(d);
    await copyFile(path.join(BERT_BASE_UNCASED_TOKENIZER_DIR, 'vocab.txt'), path.join(d, 'vocab.txt'));
    const fromVocab = await loadTokenizer(d);
    assert.equal(fromVocab.kind, 'vocab.txt');
    const ref = rust.Tokenizer.fromFile(path.join(BERT_BASE_UNCASED_TOKENIZER_DIR, 'tokenizer.json'));
    ref.disableTruncation();
    ref.disablePadding();
    for (const s of SENTENCES) assert.deepEqual(fromVocab.encode(s).ids, (await rustIds(ref, s)).ids, s);
    assert.deepEqual(fromVocab.prefix.ids, [101]);
    assert.deepEqual(fromVocab.suffix.ids, [102]);
  });

  it('the generated tiny-vocabulary tokenizer.json is valid for the Rust library and agrees with it', async () => {
    const json = bertTokenizerJson(tinyVocab());
    const d = path.join(dir, 'tiny');
    await mkdir(d);
    await writeFile(path.join(d, 'tokenizer.json'), JSON.stringify(json));
    const ours = await loadTokenizer(d);
    const ref = rustFromJson(json);
    for (const s of SENTENCES) {
      const a = ours.encode(s);
      const b = await rustIds(ref, s);
      assert.deepEqual(a.ids, b.ids, `ids differ on ${JSON.stringify(s)}`);
      assert.deepEqual(a.tokens, b.tokens);
    }
    assert.deepEqual(ours.encode('testing patients').tokens, ['t', '##es', '##t', '##ing', 'patients']);
  });

  it('a corrupt tokenizer.json is a ModelLoadError naming the file', async () => {
    const d = path.join(dir, 'corrupt');
    await mkdir(d);
    await writeFile(path.join(d, 'tokenizer.json'), '{"version": "1.0", "model": {');
    await assert.rejects(loadTokenizer(d), (e: unknown) => {
      assert.ok(e instanceof ModelLoadError);
      assert.match(e.message, /tokenizer\.json/);
      assert.match(e.message, /not valid JSON/);
      return true;
    });
  });

  it('a directory without tokenizer is a ModelLoadError saying what is needed', async () => {
    const d = path.join(dir, 'none');
    await mkdir(d);
    await assert.rejects(loadTokenizer(d), /needs a tokenizer\.json .* or a vocab\.txt/);
  });
});
