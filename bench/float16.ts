/**
 * float16 token vectors against float32 (child of bench/run.ts, row 9): what halving the stored vectors costs and
 * gains, measured on real token vectors (the given model on PMC abstracts, through the embedder).
 *
 * Both go through the real store (src/store/embedded.ts), the same embeddings written into two SQLite files, one
 * with database.vectorPrecision float32 (the default) and one with float16:
 * - bytes per token on disk: the pages of the token table and its primary key index (dbstat), over the rows;
 * - write rate: Store.writeEmbeddings (one transaction per batch of documents, as healing writes), alternating
 *   float32 / float16 per repetition so a change in machine load hits both alike;
 * - cosine of every float16 vector, read back from the float16 file and decoded as the store decodes it
 *   (decodeVector), to its float32 original: mean, min.
 *
 *   node bench/float16.ts --model DIR --corpus PMC.tar.gz --db FILE [--docs 20] [--repeat 4]
 *
 * (--db FILE: FILE.f32 and FILE.f16 are made and removed.)
 *
 * --repeat writes the same documents' vectors that many times (under other doc ids) for steadier rates.
 */
import { rmSync } from 'node:fs';
import type { EmbeddingWrite } from '../src/core/store-port.ts';
import type { TokenEmbedding } from '../src/core/types.ts';
import { openSqliteStore } from '../src/store/embedded.ts';
import { decodeVector, type VectorPrecision } from '../src/store/sql/vectors.ts';
import { parseArgs } from 'node:util';
import { DatabaseSync } from 'node:sqlite';
import { loadEmbedder } from '../src/embed/index.ts';
import { cosineStats, tokenCosines } from '../src/embed/quantize-compare.ts';
import { loadAbstracts } from './embed-corpus.ts';
import { emit } from './lib.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    corpus: { type: 'string' },
    db: { type: 'string' },
    docs: { type: 'string', default: '20' },
    repeat: { type: 'string', default: '4' },
  },
});
if (!values.model || !values.corpus || !values.db) throw new Error('--model, --corpus and --db are required');
const docs = (await loadAbstracts(values.corpus)).docs.slice(0, Number(values.docs));
const embedder = await loadEmbedder(values.model);
const outcomes = await embedder.embed(docs.map((d) => ({ docId: d.docId, text: d.text })));
await embedder.close();
const embedded = outcomes.flatMap((o) => (o.ok ? [o] : []));
const dim = embedded[0]!.dimension;

const KINDS = { f32: 'float32', f16: 'float16' } as const satisfies Record<string, VectorPrecision>;
const file = (k: keyof typeof KINDS) => `${values.db}.${k}`;
const remove = () => {
  for (const k of Object.keys(KINDS) as (keyof typeof KINDS)[])
    for (const suffix of ['', '-wal', '-shm']) rmSync(file(k) + suffix, { force: true });
};
remove();
const stores = {
  f32: openSqliteStore({ path: file('f32'), vectorPrecision: KINDS.f32 }),
  f16: openSqliteStore({ path: file('f16'), vectorPrecision: KINDS.f16 }),
};
for (const store of Object.values(stores)) await store.createSchema({ dimension: dim });

/** One repetition's writes: every document under its own id (#r), in batches of 4 as healing writes them. */
const writesOf = (r: number): EmbeddingWrite[][] => {
  const all = embedded.map((e): EmbeddingWrite => {
    const embedding: TokenEmbedding = { ...e, docId: `${e.docId}#${r}` };
    return {
      embedding,
      ledger: {
        docId: embedding.docId,
        modelFingerprint: 'bench',
        contentHash: 'bench',
        tokenCount: e.tokens.length,
        dimension: dim,
        embeddedAt: new Date(0).toISOString(),
      },
    };
  });
  const batches: EmbeddingWrite[][] = [];
  for (let i = 0; i < all.length; i += 4) batches.push(all.slice(i, i + 4));
  return batches;
};
const seconds = { f32: 0, f16: 0 };
let rows = 0;
const repeat = Math.max(1, Number(values.repeat));
for (let r = 0; r < repeat; r++) {
  const batches = writesOf(r);
  for (const kind of r % 2 === 0 ? (['f32', 'f16'] as const) : (['f16', 'f32'] as const)) {
    const t0 = performance.now();
    for (const b of batches) await stores[kind].writeEmbeddings(b);
    seconds[kind] += (performance.now() - t0) / 1000;
  }
  rows += embedded.reduce((s, e) => s + e.tokens.length, 0);
}
for (const store of Object.values(stores)) await store.close();

/** The token table's and its key's pages, and the vectors as the store decodes them (repetition 0). */
function readBack(kind: keyof typeof KINDS): { bytes: number; vectors: Map<string, ArrayLike<number>> } {
  const db = new DatabaseSync(file(kind));
  try {
    db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    db.exec(`ATTACH DATABASE '${file(kind).replace(/'/g, "''")}' AS "RAG"`);
    const t = 'DocumentTokenEmbeddings';
    const { s } = db
      .prepare(`SELECT SUM(pgsize) AS s FROM dbstat WHERE name IN (?, ?)`)
      .get(t, `sqlite_autoindex_${t}_1`) as { s: number };
    const vectors = new Map<string, ArrayLike<number>>();
    const rowsOf = db
      .prepare(`SELECT doc_id, token_index, token_embedding AS v FROM "RAG"."${t}" WHERE doc_id LIKE '%#0'`)
      .all() as { doc_id: string; token_index: number; v: Uint8Array }[];
    for (const row of rowsOf)
      vectors.set(`${row.doc_id}/${row.token_index}`, decodeVector(row.v, KINDS[kind]));
    return { bytes: Number(s), vectors };
  } finally {
    db.close();
  }
}
const wide = readBack('f32');
const half = readBack('f16');
remove();

// cosine float16 -> float32 per token, as `datastate model compare` computes it
const widened = (e: (typeof embedded)[number]) => {
  const v = new Float32Array(e.vectors.length);
  for (let t = 0; t < e.tokens.length; t++)
    v.set(Array.from(half.vectors.get(`${e.docId}#0/${t}`)!), t * dim);
  return { ...e, vectors: v };
};
const cos = cosineStats(tokenCosines(embedded, embedded.map(widened)));
if (wide.vectors.size !== half.vectors.size) throw new Error('the two stores hold different token rows');

emit({
  documents: embedded.length,
  dimension: dim,
  rows,
  tokens: cos.tokens,
  cosine: { mean: cos.mean, min: cos.min },
  bytesPerToken: { f32: wide.bytes / rows, f16: half.bytes / rows },
  rowsPerSecond: { f32: rows / seconds.f32, f16: rows / seconds.f16 },
});
