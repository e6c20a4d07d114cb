/**
 * The per-token baseline (child of bench/run.ts): the original Python orchestrator's way of making token
 * embeddings, re-implemented faithfully on our model and our SQLite store schema (DESIGN §7):
 *
 *   for each document: split the abstract on whitespace; for each word: one model call with that word alone
 *   (its vector: the mean of its word pieces' vectors, as a sentence encoder pools a one-word input), then one
 *   INSERT of that token's row with the vector sent as text and turned into the stored type by the database
 *   (IRIS: TO_VECTOR(?); here a TO_VECTOR SQL function registered on the connection parses the text into the
 *   store's float32 BLOB, so the text is formatted by the client and parsed by the database as there).
 *
 * Choices that favour the baseline (so the ratio is not inflated): the prepared INSERT is reused; the rows of a
 * document are committed together (not one transaction per INSERT); the model runs on the calling thread with
 * the fastest layout we measured for one-word inputs (--threads); the documents are already in the store and
 * their loading is not timed.
 *
 *   node bench/baseline.ts --model DIR --dimension D --from-db FILE --db FILE [--docs 100] [--threads 1]
 *
 * --from-db: a store holding the datastate run's target set; the first --docs documents of it (doc_id order)
 * are copied into the fresh store --db, then embedded the baseline's way. Prints one JSON object.
 */
import { DatabaseSync } from 'node:sqlite';
import { parseArgs } from 'node:util';
import { loadEmbedder } from '../src/embed/index.ts';
import { openSqliteStore } from '../src/store/embedded.ts';
import { inspect } from '../src/heal/inspect.ts';
import { emit, log } from './lib.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    dimension: { type: 'string' },
    'from-db': { type: 'string' },
    db: { type: 'string' },
    docs: { type: 'string', default: '100' },
    threads: { type: 'string', default: '1' },
    sessions: { type: 'string', default: '0' },
  },
});
if (!values.model || !values.dimension || !values['from-db'] || !values.db)
  throw new Error('--model, --dimension, --from-db and --db are required');
const dimension = Number(values.dimension);
const docCount = Number(values.docs);

const from = openSqliteStore({ path: values['from-db'], readOnly: true });
const insp = await inspect(from, docCount, { orderBy: 'doc_id', seed: 0 }, { dimension });
const texts = await from.readTexts(insp.target.map((t) => t.candidate.docId));
await from.close();

const store = openSqliteStore({ path: values.db });
await store.createSchema({ dimension });
await store.upsertDocuments(
  texts.map((t) => ({
    docId: t.docId,
    title: t.docId,
    abstract: t.text,
    textContent: '',
    authors: [],
    keywords: [],
    contentHash: t.contentHash,
  })),
);
await store.close();

// The baseline's own connection to the same file, with the store's settings.
const db = new DatabaseSync(values.db);
db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000');
db.function('TO_VECTOR', { deterministic: true }, (text) => {
  const s = String(text);
  const parts = s.slice(s.indexOf('[') + 1, s.lastIndexOf(']')).split(',');
  const v = new Float32Array(parts.length);
  for (let i = 0; i < parts.length; i++) v[i] = Number(parts[i]);
  return new Uint8Array(v.buffer);
});
const insert = db.prepare(
  'INSERT INTO DocumentTokenEmbeddings (doc_id, token_index, token_text, token_embedding) VALUES (?, ?, ?, TO_VECTOR(?))',
);

const embedder = await loadEmbedder(values.model, {
  dimension,
  sessions: Number(values.sessions),
  threads: Number(values.threads),
});
const dim = embedder.dimension;
await embedder.embed([{ docId: 'warm-up', text: 'warm' }]);
const fed0 = embedder.stats.tokens;

let modelSeconds = 0;
let insertSeconds = 0;
let calls = 0;
let rows = 0;
let failedWords = 0;
const t0 = performance.now();
for (const [n, doc] of texts.entries()) {
  const words = doc.text.split(/\s+/).filter(Boolean);
  db.exec('BEGIN IMMEDIATE');
  for (const [i, word] of words.entries()) {
    const m0 = performance.now();
    const [out] = await embedder.embed([{ docId: doc.docId, text: word }]);
    const m1 = performance.now();
    modelSeconds += (m1 - m0) / 1000;
    calls++;
    if (!out?.ok) {
      failedWords++;
      continue;
    }
    const pooled = new Float32Array(dim);
    const pieces = out.tokens.length;
    for (let p = 0; p < pieces; p++)
      for (let j = 0; j < dim; j++) pooled[j]! += out.vectors[p * dim + j]! / pieces;
    insert.run(doc.docId, i, word, `[${Array.from(pooled).join(',')}]`);
    insertSeconds += (performance.now() - m1) / 1000;
    rows++;
  }
  db.exec('COMMIT');
  if ((n + 1) % 10 === 0)
    log(
      `  baseline: ${n + 1}/${texts.length} documents, ${calls} model calls, ${((performance.now() - t0) / 1000).toFixed(0)} s`,
    );
}
const seconds = (performance.now() - t0) / 1000;
const stored = (db.prepare('SELECT COUNT(*) AS n FROM DocumentTokenEmbeddings').get() as { n: number }).n;
db.close();
const fed = embedder.stats.tokens - fed0;
const layout = { sessions: embedder.info.sessions, threads: embedder.info.threads };
await embedder.close();
if (stored !== rows) throw new Error(`baseline: ${stored} rows stored, ${rows} inserted`);
emit({
  documents: texts.length,
  seconds,
  modelSeconds,
  insertSeconds,
  calls,
  rows,
  failedWords,
  fedTokens: fed,
  layout,
  docsPerSecond: texts.length / seconds,
});
