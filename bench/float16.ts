/**
 * float16 token vectors against float32 (child of bench/run.ts, row 9): what halving the stored vectors costs and
 * gains, measured on real token vectors (the given model on PMC abstracts, through the embedder).
 *
 * - bytes per token on disk: the same rows written into two SQLite tables shaped like the store's token table
 *   (doc_id, token_index, token_text, token_embedding BLOB with its length CHECK; primary key index), one with
 *   float32 BLOBs, one with float16 (IEEE half, Float16Array); the pages of each table and its index (dbstat),
 *   over the rows;
 * - write rate: the same prepared INSERTs, one transaction per document, alternating float32 / float16 per
 *   chunk of documents so a change in machine load hits both alike;
 * - cosine of every float16 vector (widened back) to its float32 original: mean, min.
 *
 *   node bench/float16.ts --model DIR --corpus PMC.tar.gz --db FILE [--docs 20] [--repeat 4]
 *
 * --repeat writes the same documents' vectors that many times (under other doc ids) for steadier rates.
 */
import { rmSync } from 'node:fs';
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

// cosine float16 -> float32, as `datastate model compare` computes it
const cos = cosineStats(
  tokenCosines(
    embedded,
    embedded.map((e) => ({ ...e, vectors: Float32Array.from(new Float16Array(e.vectors)) })),
  ),
);

rmSync(values.db, { force: true });
const db = new DatabaseSync(values.db);
db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;');
// The store's token table (src/store/dialects/sqlite.ts): a rowid table, its primary key an index beside it.
for (const [k, bytes] of [
  ['f32', 4],
  ['f16', 2],
] as const)
  db.exec(
    `CREATE TABLE tok_${k} (doc_id TEXT NOT NULL, token_index INTEGER NOT NULL, token_text TEXT NOT NULL, ` +
      `token_embedding BLOB NOT NULL CHECK (length(token_embedding) = ${bytes * dim}), PRIMARY KEY (doc_id, token_index))`,
  );
const insert = {
  f32: db.prepare('INSERT INTO tok_f32 VALUES (?, ?, ?, ?)'),
  f16: db.prepare('INSERT INTO tok_f16 VALUES (?, ?, ?, ?)'),
};
const blobs = embedded.map((e) => ({
  e,
  f32: new Uint8Array(e.vectors.buffer, e.vectors.byteOffset, e.vectors.byteLength),
  f16: new Uint8Array(new Float16Array(e.vectors).buffer),
}));
const seconds = { f32: 0, f16: 0 };
let rows = 0;
const repeat = Math.max(1, Number(values.repeat));
for (let r = 0; r < repeat; r++) {
  for (const kind of r % 2 === 0 ? (['f32', 'f16'] as const) : (['f16', 'f32'] as const)) {
    const bytes = kind === 'f32' ? 4 : 2;
    const t0 = performance.now();
    for (const b of blobs) {
      db.exec('BEGIN');
      const blob = b[kind];
      for (let t = 0; t < b.e.tokens.length; t++)
        insert[kind].run(
          `${b.e.docId}#${r}`,
          t,
          b.e.tokens[t]!,
          blob.subarray(t * dim * bytes, (t + 1) * dim * bytes),
        );
      db.exec('COMMIT');
    }
    seconds[kind] += (performance.now() - t0) / 1000;
  }
  rows += blobs.reduce((s, b) => s + b.e.tokens.length, 0);
}
db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
const size = (t: string) =>
  Number(
    (
      db
        .prepare(`SELECT SUM(pgsize) AS s FROM dbstat WHERE name IN (?, ?)`)
        .get(t, `sqlite_autoindex_${t}_1`) as { s: number }
    ).s,
  );
const bytes = { f32: size('tok_f32'), f16: size('tok_f16') };
db.close();
rmSync(values.db, { force: true });
for (const suffix of ['-wal', '-shm']) rmSync(values.db + suffix, { force: true });
emit({
  documents: embedded.length,
  dimension: dim,
  rows,
  tokens: cos.tokens,
  cosine: { mean: cos.mean, min: cos.min },
  bytesPerToken: { f32: bytes.f32 / rows, f16: bytes.f16 / rows },
  rowsPerSecond: { f32: rows / seconds.f32, f16: rows / seconds.f16 },
});
